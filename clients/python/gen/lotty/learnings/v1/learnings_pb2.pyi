from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lotty.experiments.v1 import experiments_pb2 as _experiments_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Effect(_message.Message):
    __slots__ = ["absolute_difference", "ci_high", "ci_low", "control_value", "control_variant_key", "metric_key", "p_value", "relative_difference", "significant", "variant_key", "variant_value"]
    ABSOLUTE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VALUE_FIELD_NUMBER: _ClassVar[int]
    CONTROL_VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_VALUE_FIELD_NUMBER: _ClassVar[int]
    absolute_difference: float
    ci_high: float
    ci_low: float
    control_value: float
    control_variant_key: str
    metric_key: str
    p_value: float
    relative_difference: float
    significant: bool
    variant_key: str
    variant_value: float
    def __init__(self, metric_key: _Optional[str] = ..., variant_key: _Optional[str] = ..., control_variant_key: _Optional[str] = ..., control_value: _Optional[float] = ..., variant_value: _Optional[float] = ..., absolute_difference: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., relative_difference: _Optional[float] = ..., p_value: _Optional[float] = ..., significant: bool = ...) -> None: ...

class FieldChange(_message.Message):
    __slots__ = ["after", "before", "field"]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    BEFORE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    after: str
    before: str
    field: str
    def __init__(self, field: _Optional[str] = ..., before: _Optional[str] = ..., after: _Optional[str] = ...) -> None: ...

class FindSimilarRequest(_message.Message):
    __slots__ = ["draft", "draft_tags", "experiment_id", "limit"]
    DRAFT_FIELD_NUMBER: _ClassVar[int]
    DRAFT_TAGS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    draft: _experiments_pb2.Experiment
    draft_tags: _containers.RepeatedScalarFieldContainer[str]
    experiment_id: str
    limit: int
    def __init__(self, experiment_id: _Optional[str] = ..., limit: _Optional[int] = ..., draft: _Optional[_Union[_experiments_pb2.Experiment, _Mapping]] = ..., draft_tags: _Optional[_Iterable[str]] = ...) -> None: ...

class FindSimilarResponse(_message.Message):
    __slots__ = ["similar"]
    SIMILAR_FIELD_NUMBER: _ClassVar[int]
    similar: _containers.RepeatedCompositeFieldContainer[LearningMatch]
    def __init__(self, similar: _Optional[_Iterable[_Union[LearningMatch, _Mapping]]] = ...) -> None: ...

class GetLearningRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetLearningResponse(_message.Message):
    __slots__ = ["learning"]
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    learning: Learning
    def __init__(self, learning: _Optional[_Union[Learning, _Mapping]] = ...) -> None: ...

class GetMetaAnalysisRequest(_message.Message):
    __slots__ = ["filter", "metric_key"]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    filter: SearchLearningsRequest
    metric_key: str
    def __init__(self, filter: _Optional[_Union[SearchLearningsRequest, _Mapping]] = ..., metric_key: _Optional[str] = ...) -> None: ...

class GetMetaAnalysisResponse(_message.Message):
    __slots__ = ["experiments", "guardrail_fired_share", "impact", "median_actual_days", "median_actual_days_when_planned", "median_planned_days", "needs_writing_up_share", "no_effect_share", "rollback_share", "significant_share", "win_rate", "with_plan"]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIRED_SHARE_FIELD_NUMBER: _ClassVar[int]
    IMPACT_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_ACTUAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_ACTUAL_DAYS_WHEN_PLANNED_FIELD_NUMBER: _ClassVar[int]
    MEDIAN_PLANNED_DAYS_FIELD_NUMBER: _ClassVar[int]
    NEEDS_WRITING_UP_SHARE_FIELD_NUMBER: _ClassVar[int]
    NO_EFFECT_SHARE_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_SHARE_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_SHARE_FIELD_NUMBER: _ClassVar[int]
    WIN_RATE_FIELD_NUMBER: _ClassVar[int]
    WITH_PLAN_FIELD_NUMBER: _ClassVar[int]
    experiments: int
    guardrail_fired_share: float
    impact: MetricImpact
    median_actual_days: float
    median_actual_days_when_planned: float
    median_planned_days: float
    needs_writing_up_share: float
    no_effect_share: float
    rollback_share: float
    significant_share: float
    win_rate: float
    with_plan: int
    def __init__(self, experiments: _Optional[int] = ..., win_rate: _Optional[float] = ..., rollback_share: _Optional[float] = ..., no_effect_share: _Optional[float] = ..., significant_share: _Optional[float] = ..., guardrail_fired_share: _Optional[float] = ..., needs_writing_up_share: _Optional[float] = ..., median_actual_days: _Optional[float] = ..., median_planned_days: _Optional[float] = ..., median_actual_days_when_planned: _Optional[float] = ..., with_plan: _Optional[int] = ..., impact: _Optional[_Union[MetricImpact, _Mapping]] = ...) -> None: ...

class ImpactContribution(_message.Message):
    __slots__ = ["completed_at", "effect", "experiment_id", "experiment_name"]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    completed_at: _timestamp_pb2.Timestamp
    effect: Effect
    experiment_id: str
    experiment_name: str
    def __init__(self, experiment_id: _Optional[str] = ..., experiment_name: _Optional[str] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., effect: _Optional[_Union[Effect, _Mapping]] = ...) -> None: ...

class Learning(_message.Message):
    __slots__ = ["action", "audience_percent", "completed_at", "countries", "created_at", "experiment_id", "experiment_name", "filled", "fired_guardrail_metric_keys", "flag_key", "guardrails", "hypothesis", "justification", "links", "metric_keys", "missing_fields", "notes", "outcome", "owner_id", "planned_days", "platforms", "primary_effect", "primary_metric_key", "report_permalink", "result", "started_at", "tags", "targeting_rule", "targeting_summary", "updated_at", "updated_by", "variant_keys", "variant_weights", "version", "versions", "winner_variant_key"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    FILLED_FIELD_NUMBER: _ClassVar[int]
    FIRED_GUARDRAIL_METRIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    HYPOTHESIS_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELDS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PLANNED_DAYS_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_EFFECT_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    REPORT_PERMALINK_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    TARGETING_RULE_FIELD_NUMBER: _ClassVar[int]
    TARGETING_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEYS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_WEIGHTS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINNER_VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    action: str
    audience_percent: float
    completed_at: _timestamp_pb2.Timestamp
    countries: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    experiment_id: str
    experiment_name: str
    filled: bool
    fired_guardrail_metric_keys: _containers.RepeatedScalarFieldContainer[str]
    flag_key: str
    guardrails: _containers.RepeatedCompositeFieldContainer[_experiments_pb2.Guardrail]
    hypothesis: str
    justification: str
    links: _containers.RepeatedCompositeFieldContainer[Link]
    metric_keys: _containers.RepeatedScalarFieldContainer[str]
    missing_fields: _containers.RepeatedScalarFieldContainer[str]
    notes: str
    outcome: _experiments_pb2.Outcome
    owner_id: str
    planned_days: int
    platforms: _containers.RepeatedScalarFieldContainer[str]
    primary_effect: Effect
    primary_metric_key: str
    report_permalink: str
    result: str
    started_at: _timestamp_pb2.Timestamp
    tags: _containers.RepeatedScalarFieldContainer[str]
    targeting_rule: str
    targeting_summary: str
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    variant_keys: _containers.RepeatedScalarFieldContainer[str]
    variant_weights: _containers.RepeatedScalarFieldContainer[float]
    version: int
    versions: _containers.RepeatedScalarFieldContainer[str]
    winner_variant_key: str
    def __init__(self, experiment_id: _Optional[str] = ..., experiment_name: _Optional[str] = ..., flag_key: _Optional[str] = ..., hypothesis: _Optional[str] = ..., primary_metric_key: _Optional[str] = ..., metric_keys: _Optional[_Iterable[str]] = ..., guardrails: _Optional[_Iterable[_Union[_experiments_pb2.Guardrail, _Mapping]]] = ..., outcome: _Optional[_Union[_experiments_pb2.Outcome, str]] = ..., winner_variant_key: _Optional[str] = ..., justification: _Optional[str] = ..., result: _Optional[str] = ..., action: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., targeting_rule: _Optional[str] = ..., platforms: _Optional[_Iterable[str]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., notes: _Optional[str] = ..., audience_percent: _Optional[float] = ..., variant_keys: _Optional[_Iterable[str]] = ..., owner_id: _Optional[str] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ..., primary_effect: _Optional[_Union[Effect, _Mapping]] = ..., fired_guardrail_metric_keys: _Optional[_Iterable[str]] = ..., countries: _Optional[_Iterable[str]] = ..., versions: _Optional[_Iterable[str]] = ..., report_permalink: _Optional[str] = ..., filled: bool = ..., missing_fields: _Optional[_Iterable[str]] = ..., targeting_summary: _Optional[str] = ..., variant_weights: _Optional[_Iterable[float]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., planned_days: _Optional[int] = ...) -> None: ...

class LearningEdit(_message.Message):
    __slots__ = ["changes", "edited_at", "editor_id", "version"]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    EDITED_AT_FIELD_NUMBER: _ClassVar[int]
    EDITOR_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[FieldChange]
    edited_at: _timestamp_pb2.Timestamp
    editor_id: str
    version: int
    def __init__(self, version: _Optional[int] = ..., editor_id: _Optional[str] = ..., edited_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., changes: _Optional[_Iterable[_Union[FieldChange, _Mapping]]] = ...) -> None: ...

class LearningMatch(_message.Message):
    __slots__ = ["learning", "reason_details", "reasons", "score", "snippet"]
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    REASON_DETAILS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SNIPPET_FIELD_NUMBER: _ClassVar[int]
    learning: Learning
    reason_details: _containers.RepeatedCompositeFieldContainer[MatchReason]
    reasons: _containers.RepeatedScalarFieldContainer[str]
    score: float
    snippet: str
    def __init__(self, learning: _Optional[_Union[Learning, _Mapping]] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., snippet: _Optional[str] = ..., reason_details: _Optional[_Iterable[_Union[MatchReason, _Mapping]]] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ["title", "url"]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    title: str
    url: str
    def __init__(self, title: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class ListLearningHistoryRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class ListLearningHistoryResponse(_message.Message):
    __slots__ = ["edits"]
    EDITS_FIELD_NUMBER: _ClassVar[int]
    edits: _containers.RepeatedCompositeFieldContainer[LearningEdit]
    def __init__(self, edits: _Optional[_Iterable[_Union[LearningEdit, _Mapping]]] = ...) -> None: ...

class MatchReason(_message.Message):
    __slots__ = ["detail", "reason", "weight"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    detail: str
    reason: str
    weight: float
    def __init__(self, reason: _Optional[str] = ..., weight: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...

class MetricImpact(_message.Message):
    __slots__ = ["contributions", "experiments", "metric_key", "summed_absolute_difference", "summed_ci_high", "summed_ci_low", "summed_relative_difference"]
    CONTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    SUMMED_ABSOLUTE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    SUMMED_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    SUMMED_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    SUMMED_RELATIVE_DIFFERENCE_FIELD_NUMBER: _ClassVar[int]
    contributions: _containers.RepeatedCompositeFieldContainer[ImpactContribution]
    experiments: int
    metric_key: str
    summed_absolute_difference: float
    summed_ci_high: float
    summed_ci_low: float
    summed_relative_difference: float
    def __init__(self, metric_key: _Optional[str] = ..., experiments: _Optional[int] = ..., summed_relative_difference: _Optional[float] = ..., summed_absolute_difference: _Optional[float] = ..., summed_ci_low: _Optional[float] = ..., summed_ci_high: _Optional[float] = ..., contributions: _Optional[_Iterable[_Union[ImpactContribution, _Mapping]]] = ...) -> None: ...

class SearchLearningsRequest(_message.Message):
    __slots__ = ["completed_after", "completed_before", "countries", "fired_guardrail_metric_key", "flag_key", "guardrail_fired", "metric_key", "needs_writing_up", "outcome", "owner_id", "page_size", "page_token", "platform", "platforms", "primary_metric_key", "query", "tags"]
    COMPLETED_AFTER_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    FIRED_GUARDRAIL_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIRED_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NEEDS_WRITING_UP_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PLATFORMS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    completed_after: _timestamp_pb2.Timestamp
    completed_before: _timestamp_pb2.Timestamp
    countries: _containers.RepeatedScalarFieldContainer[str]
    fired_guardrail_metric_key: str
    flag_key: str
    guardrail_fired: bool
    metric_key: str
    needs_writing_up: bool
    outcome: _experiments_pb2.Outcome
    owner_id: str
    page_size: int
    page_token: str
    platform: str
    platforms: _containers.RepeatedScalarFieldContainer[str]
    primary_metric_key: str
    query: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, query: _Optional[str] = ..., flag_key: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., outcome: _Optional[_Union[_experiments_pb2.Outcome, str]] = ..., metric_key: _Optional[str] = ..., platform: _Optional[str] = ..., owner_id: _Optional[str] = ..., completed_after: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., completed_before: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., countries: _Optional[_Iterable[str]] = ..., platforms: _Optional[_Iterable[str]] = ..., primary_metric_key: _Optional[str] = ..., guardrail_fired: bool = ..., needs_writing_up: bool = ..., fired_guardrail_metric_key: _Optional[str] = ...) -> None: ...

class SearchLearningsResponse(_message.Message):
    __slots__ = ["next_page_token", "results", "total_size"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    results: _containers.RepeatedCompositeFieldContainer[LearningMatch]
    total_size: int
    def __init__(self, results: _Optional[_Iterable[_Union[LearningMatch, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpsertLearningRequest(_message.Message):
    __slots__ = ["expected_version", "learning"]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    expected_version: int
    learning: Learning
    def __init__(self, learning: _Optional[_Union[Learning, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpsertLearningResponse(_message.Message):
    __slots__ = ["learning"]
    LEARNING_FIELD_NUMBER: _ClassVar[int]
    learning: Learning
    def __init__(self, learning: _Optional[_Union[Learning, _Mapping]] = ...) -> None: ...
