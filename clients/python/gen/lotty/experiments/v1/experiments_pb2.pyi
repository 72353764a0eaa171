from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
DIRECTION_DECREASE_IS_BAD: Direction
DIRECTION_INCREASE_IS_BAD: Direction
DIRECTION_UNSPECIFIED: Direction
EXPERIMENT_ACTION_APPROVED: ExperimentAction
EXPERIMENT_ACTION_ARCHIVED: ExperimentAction
EXPERIMENT_ACTION_CHANGES_REQUESTED: ExperimentAction
EXPERIMENT_ACTION_COMPLETED: ExperimentAction
EXPERIMENT_ACTION_CREATED: ExperimentAction
EXPERIMENT_ACTION_GUARDRAIL_PAUSED: ExperimentAction
EXPERIMENT_ACTION_GUARDRAIL_ROLLED_BACK: ExperimentAction
EXPERIMENT_ACTION_PAUSED: ExperimentAction
EXPERIMENT_ACTION_RAMP_HELD: ExperimentAction
EXPERIMENT_ACTION_RAMP_MODE_CHANGED: ExperimentAction
EXPERIMENT_ACTION_RAMP_SAFETY_ACTION: ExperimentAction
EXPERIMENT_ACTION_RAMP_STEPPED: ExperimentAction
EXPERIMENT_ACTION_REJECTED: ExperimentAction
EXPERIMENT_ACTION_RESUMED: ExperimentAction
EXPERIMENT_ACTION_REWORKED: ExperimentAction
EXPERIMENT_ACTION_STARTED: ExperimentAction
EXPERIMENT_ACTION_SUBMITTED: ExperimentAction
EXPERIMENT_ACTION_UNSPECIFIED: ExperimentAction
EXPERIMENT_ACTION_UPDATED: ExperimentAction
EXPERIMENT_STATUS_APPROVED: ExperimentStatus
EXPERIMENT_STATUS_ARCHIVED: ExperimentStatus
EXPERIMENT_STATUS_COMPLETED: ExperimentStatus
EXPERIMENT_STATUS_DRAFT: ExperimentStatus
EXPERIMENT_STATUS_IN_REVIEW: ExperimentStatus
EXPERIMENT_STATUS_PAUSED: ExperimentStatus
EXPERIMENT_STATUS_REJECTED: ExperimentStatus
EXPERIMENT_STATUS_RUNNING: ExperimentStatus
EXPERIMENT_STATUS_UNSPECIFIED: ExperimentStatus
GUARDRAIL_ACTION_PAUSE: GuardrailAction
GUARDRAIL_ACTION_ROLLBACK: GuardrailAction
GUARDRAIL_ACTION_UNSPECIFIED: GuardrailAction
OUTCOME_NO_EFFECT: Outcome
OUTCOME_ROLLBACK: Outcome
OUTCOME_ROLLOUT: Outcome
OUTCOME_UNSPECIFIED: Outcome
RAMP_CONTROL_ADVANCE: RampControl
RAMP_CONTROL_HOLD: RampControl
RAMP_CONTROL_MANUAL: RampControl
RAMP_CONTROL_RESUME_AUTOPILOT: RampControl
RAMP_CONTROL_SKIP: RampControl
RAMP_CONTROL_STEP_BACK: RampControl
RAMP_CONTROL_UNSPECIFIED: RampControl
RAMP_EVENT_KIND_ADVANCED: RampEventKind
RAMP_EVENT_KIND_BLOCKED: RampEventKind
RAMP_EVENT_KIND_MANUAL: RampEventKind
RAMP_EVENT_KIND_SAFETY_ACTION: RampEventKind
RAMP_EVENT_KIND_STARTED: RampEventKind
RAMP_EVENT_KIND_UNSPECIFIED: RampEventKind
RAMP_MODE_AUTO: RampMode
RAMP_MODE_DONE: RampMode
RAMP_MODE_HOLD: RampMode
RAMP_MODE_MANUAL: RampMode
RAMP_MODE_UNSPECIFIED: RampMode
RAMP_SAFETY_ACTION_PAUSE: RampSafetyAction
RAMP_SAFETY_ACTION_ROLLBACK: RampSafetyAction
RAMP_SAFETY_ACTION_STEP_BACK: RampSafetyAction
RAMP_SAFETY_ACTION_UNSPECIFIED: RampSafetyAction

class Approval(_message.Message):
    __slots__ = ["approved_at", "approver_id", "comment", "version"]
    APPROVED_AT_FIELD_NUMBER: _ClassVar[int]
    APPROVER_ID_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    approved_at: _timestamp_pb2.Timestamp
    approver_id: str
    comment: str
    version: int
    def __init__(self, approver_id: _Optional[str] = ..., comment: _Optional[str] = ..., approved_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ...) -> None: ...

class ApproveExperimentRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ApproveExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ArchiveExperimentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ArchiveExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class CompleteExperimentRequest(_message.Message):
    __slots__ = ["id", "justification", "outcome", "winner_variant_key"]
    ID_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    WINNER_VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    id: str
    justification: str
    outcome: Outcome
    winner_variant_key: str
    def __init__(self, id: _Optional[str] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., winner_variant_key: _Optional[str] = ..., justification: _Optional[str] = ...) -> None: ...

class CompleteExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ControlRampRequest(_message.Message):
    __slots__ = ["action", "comment", "id"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    action: RampControl
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., action: _Optional[_Union[RampControl, str]] = ..., comment: _Optional[str] = ...) -> None: ...

class ControlRampResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class CreateExperimentRequest(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class CreateExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class Experiment(_message.Message):
    __slots__ = ["approvals", "audience_percent", "compiled_targeting_rule", "completed_at", "conflict_domains", "created_at", "description", "flag_key", "guardrails", "id", "justification", "metric_keys", "name", "outcome", "owner_id", "primary_metric_key", "priority", "ramp", "ramp_plan", "required_approvals", "rolled_back", "saved_segments", "started_at", "status", "targeting_rule", "updated_at", "variants", "version", "winner_variant_key"]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    AUDIENCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    COMPILED_TARGETING_RULE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CONFLICT_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    RAMP_FIELD_NUMBER: _ClassVar[int]
    RAMP_PLAN_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_APPROVALS_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TARGETING_RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    WINNER_VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    audience_percent: float
    compiled_targeting_rule: str
    completed_at: _timestamp_pb2.Timestamp
    conflict_domains: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    description: str
    flag_key: str
    guardrails: _containers.RepeatedCompositeFieldContainer[Guardrail]
    id: str
    justification: str
    metric_keys: _containers.RepeatedScalarFieldContainer[str]
    name: str
    outcome: Outcome
    owner_id: str
    primary_metric_key: str
    priority: int
    ramp: RampState
    ramp_plan: RampPlan
    required_approvals: int
    rolled_back: bool
    saved_segments: _containers.RepeatedCompositeFieldContainer[SavedSegmentRef]
    started_at: _timestamp_pb2.Timestamp
    status: ExperimentStatus
    targeting_rule: str
    updated_at: _timestamp_pb2.Timestamp
    variants: _containers.RepeatedCompositeFieldContainer[Variant]
    version: int
    winner_variant_key: str
    def __init__(self, id: _Optional[str] = ..., flag_key: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., owner_id: _Optional[str] = ..., status: _Optional[_Union[ExperimentStatus, str]] = ..., version: _Optional[int] = ..., audience_percent: _Optional[float] = ..., variants: _Optional[_Iterable[_Union[Variant, _Mapping]]] = ..., targeting_rule: _Optional[str] = ..., primary_metric_key: _Optional[str] = ..., metric_keys: _Optional[_Iterable[str]] = ..., guardrails: _Optional[_Iterable[_Union[Guardrail, _Mapping]]] = ..., conflict_domains: _Optional[_Iterable[str]] = ..., priority: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., outcome: _Optional[_Union[Outcome, str]] = ..., winner_variant_key: _Optional[str] = ..., justification: _Optional[str] = ..., rolled_back: bool = ..., approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ..., required_approvals: _Optional[int] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., ramp_plan: _Optional[_Union[RampPlan, _Mapping]] = ..., ramp: _Optional[_Union[RampState, _Mapping]] = ..., compiled_targeting_rule: _Optional[str] = ..., saved_segments: _Optional[_Iterable[_Union[SavedSegmentRef, _Mapping]]] = ...) -> None: ...

class ExperimentVersion(_message.Message):
    __slots__ = ["author_id", "created_at", "experiment", "ramp_percent", "version"]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    RAMP_PERCENT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    author_id: str
    created_at: _timestamp_pb2.Timestamp
    experiment: Experiment
    ramp_percent: float
    version: int
    def __init__(self, version: _Optional[int] = ..., experiment: _Optional[_Union[Experiment, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., author_id: _Optional[str] = ..., ramp_percent: _Optional[float] = ...) -> None: ...

class GetExperimentHistoryRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetExperimentHistoryResponse(_message.Message):
    __slots__ = ["entries"]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class Guardrail(_message.Message):
    __slots__ = ["action", "direction", "metric_key", "min_sample_size", "threshold", "window_seconds"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    action: GuardrailAction
    direction: Direction
    metric_key: str
    min_sample_size: int
    threshold: float
    window_seconds: int
    def __init__(self, metric_key: _Optional[str] = ..., threshold: _Optional[float] = ..., direction: _Optional[_Union[Direction, str]] = ..., window_seconds: _Optional[int] = ..., min_sample_size: _Optional[int] = ..., action: _Optional[_Union[GuardrailAction, str]] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ["action", "actor_id", "at", "comment", "from_status", "to_status", "version"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    FROM_STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    action: ExperimentAction
    actor_id: str
    at: _timestamp_pb2.Timestamp
    comment: str
    from_status: ExperimentStatus
    to_status: ExperimentStatus
    version: int
    def __init__(self, at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., actor_id: _Optional[str] = ..., action: _Optional[_Union[ExperimentAction, str]] = ..., from_status: _Optional[_Union[ExperimentStatus, str]] = ..., to_status: _Optional[_Union[ExperimentStatus, str]] = ..., version: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class ListExperimentVersionsRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListExperimentVersionsResponse(_message.Message):
    __slots__ = ["versions"]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[ExperimentVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[ExperimentVersion, _Mapping]]] = ...) -> None: ...

class ListExperimentsRequest(_message.Message):
    __slots__ = ["flag_key", "owner_id", "page_size", "page_token", "status"]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    flag_key: str
    owner_id: str
    page_size: int
    page_token: str
    status: ExperimentStatus
    def __init__(self, flag_key: _Optional[str] = ..., status: _Optional[_Union[ExperimentStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., owner_id: _Optional[str] = ...) -> None: ...

class ListExperimentsResponse(_message.Message):
    __slots__ = ["experiments", "next_page_token"]
    EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiments: _containers.RepeatedCompositeFieldContainer[Experiment]
    next_page_token: str
    def __init__(self, experiments: _Optional[_Iterable[_Union[Experiment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListRampEventsRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListRampEventsResponse(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[RampEvent]
    def __init__(self, events: _Optional[_Iterable[_Union[RampEvent, _Mapping]]] = ...) -> None: ...

class PauseExperimentRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class PauseExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class RampEvent(_message.Message):
    __slots__ = ["actor_id", "at", "control", "from_percent", "from_step", "gates", "id", "kind", "mode", "reason", "safety_action", "to_percent", "to_step", "version"]
    ACTOR_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    FROM_PERCENT_FIELD_NUMBER: _ClassVar[int]
    FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    GATES_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SAFETY_ACTION_FIELD_NUMBER: _ClassVar[int]
    TO_PERCENT_FIELD_NUMBER: _ClassVar[int]
    TO_STEP_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    actor_id: str
    at: _timestamp_pb2.Timestamp
    control: RampControl
    from_percent: float
    from_step: int
    gates: _containers.RepeatedCompositeFieldContainer[RampGateResult]
    id: str
    kind: RampEventKind
    mode: RampMode
    reason: str
    safety_action: RampSafetyAction
    to_percent: float
    to_step: int
    version: int
    def __init__(self, id: _Optional[str] = ..., at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., kind: _Optional[_Union[RampEventKind, str]] = ..., actor_id: _Optional[str] = ..., from_step: _Optional[int] = ..., to_step: _Optional[int] = ..., from_percent: _Optional[float] = ..., to_percent: _Optional[float] = ..., mode: _Optional[_Union[RampMode, str]] = ..., gates: _Optional[_Iterable[_Union[RampGateResult, _Mapping]]] = ..., reason: _Optional[str] = ..., version: _Optional[int] = ..., safety_action: _Optional[_Union[RampSafetyAction, str]] = ..., control: _Optional[_Union[RampControl, str]] = ...) -> None: ...

class RampGateResult(_message.Message):
    __slots__ = ["detail", "effect", "gate", "observed", "passed", "threshold"]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    GATE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    detail: str
    effect: str
    gate: str
    observed: float
    passed: bool
    threshold: float
    def __init__(self, gate: _Optional[str] = ..., passed: bool = ..., observed: _Optional[float] = ..., threshold: _Optional[float] = ..., effect: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class RampGates(_message.Message):
    __slots__ = ["allow_srm", "max_rejected_share", "max_traffic_skew", "min_exposures", "min_exposures_per_variant", "min_step_seconds", "thresholds"]
    ALLOW_SRM_FIELD_NUMBER: _ClassVar[int]
    MAX_REJECTED_SHARE_FIELD_NUMBER: _ClassVar[int]
    MAX_TRAFFIC_SKEW_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPOSURES_PER_VARIANT_FIELD_NUMBER: _ClassVar[int]
    MIN_STEP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    allow_srm: bool
    max_rejected_share: float
    max_traffic_skew: float
    min_exposures: int
    min_exposures_per_variant: int
    min_step_seconds: int
    thresholds: _containers.RepeatedCompositeFieldContainer[RampThreshold]
    def __init__(self, min_step_seconds: _Optional[int] = ..., min_exposures: _Optional[int] = ..., min_exposures_per_variant: _Optional[int] = ..., thresholds: _Optional[_Iterable[_Union[RampThreshold, _Mapping]]] = ..., allow_srm: bool = ..., max_traffic_skew: _Optional[float] = ..., max_rejected_share: _Optional[float] = ...) -> None: ...

class RampPlan(_message.Message):
    __slots__ = ["gates", "safety_action", "steps"]
    GATES_FIELD_NUMBER: _ClassVar[int]
    SAFETY_ACTION_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    gates: RampGates
    safety_action: RampSafetyAction
    steps: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, steps: _Optional[_Iterable[float]] = ..., gates: _Optional[_Union[RampGates, _Mapping]] = ..., safety_action: _Optional[_Union[RampSafetyAction, str]] = ...) -> None: ...

class RampState(_message.Message):
    __slots__ = ["effective_audience_percent", "last_evaluated_at", "last_gates", "mode", "step_index", "step_percent", "step_started_at"]
    EFFECTIVE_AUDIENCE_PERCENT_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_GATES_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    STEP_PERCENT_FIELD_NUMBER: _ClassVar[int]
    STEP_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    effective_audience_percent: float
    last_evaluated_at: _timestamp_pb2.Timestamp
    last_gates: _containers.RepeatedCompositeFieldContainer[RampGateResult]
    mode: RampMode
    step_index: int
    step_percent: float
    step_started_at: _timestamp_pb2.Timestamp
    def __init__(self, mode: _Optional[_Union[RampMode, str]] = ..., step_index: _Optional[int] = ..., step_percent: _Optional[float] = ..., effective_audience_percent: _Optional[float] = ..., step_started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., last_gates: _Optional[_Iterable[_Union[RampGateResult, _Mapping]]] = ..., last_evaluated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RampThreshold(_message.Message):
    __slots__ = ["direction", "metric_key", "threshold"]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    direction: Direction
    metric_key: str
    threshold: float
    def __init__(self, metric_key: _Optional[str] = ..., threshold: _Optional[float] = ..., direction: _Optional[_Union[Direction, str]] = ...) -> None: ...

class RejectExperimentRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class RejectExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class RequestChangesRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class RequestChangesResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ResumeExperimentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ResumeExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class ReworkExperimentRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class ReworkExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class SavedSegmentRef(_message.Message):
    __slots__ = ["key", "version"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    key: str
    version: int
    def __init__(self, key: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class StartExperimentRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StartExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class SubmitExperimentRequest(_message.Message):
    __slots__ = ["comment", "id"]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    comment: str
    id: str
    def __init__(self, id: _Optional[str] = ..., comment: _Optional[str] = ...) -> None: ...

class SubmitExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class UpdateExperimentRequest(_message.Message):
    __slots__ = ["expected_version", "experiment"]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    expected_version: int
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateExperimentResponse(_message.Message):
    __slots__ = ["experiment"]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    experiment: Experiment
    def __init__(self, experiment: _Optional[_Union[Experiment, _Mapping]] = ...) -> None: ...

class Variant(_message.Message):
    __slots__ = ["control", "key", "value", "weight"]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    control: bool
    key: str
    value: _struct_pb2.Value
    weight: float
    def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., weight: _Optional[float] = ..., control: bool = ...) -> None: ...

class ExperimentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class GuardrailAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class ExperimentAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class RampSafetyAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class RampMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class RampControl(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class RampEventKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
