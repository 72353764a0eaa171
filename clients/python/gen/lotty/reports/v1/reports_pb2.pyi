from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lotty.events.v1 import events_pb2 as _events_pb2
from lotty.experiments.v1 import experiments_pb2 as _experiments_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EXPORT_FORMAT_CSV: ExportFormat
EXPORT_FORMAT_JSON: ExportFormat
EXPORT_FORMAT_UNSPECIFIED: ExportFormat

class Comparison(_message.Message):
    __slots__ = ["absolute_diff", "adjusted_p_value", "adjusted_significant", "chance_to_beat_control", "ci_high", "ci_low", "p_value", "relative_diff", "sequential_ci_high", "sequential_ci_low", "significant"]
    ABSOLUTE_DIFF_FIELD_NUMBER: _ClassVar[int]
    ADJUSTED_P_VALUE_FIELD_NUMBER: _ClassVar[int]
    ADJUSTED_SIGNIFICANT_FIELD_NUMBER: _ClassVar[int]
    CHANCE_TO_BEAT_CONTROL_FIELD_NUMBER: _ClassVar[int]
    CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    CI_LOW_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    RELATIVE_DIFF_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_CI_HIGH_FIELD_NUMBER: _ClassVar[int]
    SEQUENTIAL_CI_LOW_FIELD_NUMBER: _ClassVar[int]
    SIGNIFICANT_FIELD_NUMBER: _ClassVar[int]
    absolute_diff: float
    adjusted_p_value: float
    adjusted_significant: bool
    chance_to_beat_control: float
    ci_high: float
    ci_low: float
    p_value: float
    relative_diff: float
    sequential_ci_high: float
    sequential_ci_low: float
    significant: bool
    def __init__(self, absolute_diff: _Optional[float] = ..., relative_diff: _Optional[float] = ..., ci_low: _Optional[float] = ..., ci_high: _Optional[float] = ..., p_value: _Optional[float] = ..., significant: bool = ..., adjusted_p_value: _Optional[float] = ..., adjusted_significant: bool = ..., sequential_ci_low: _Optional[float] = ..., sequential_ci_high: _Optional[float] = ..., chance_to_beat_control: _Optional[float] = ...) -> None: ...

class DataHealth(_message.Message):
    __slots__ = ["duplicate_events", "duplicate_share", "pending_attribution_events", "received_events", "rejected_events", "rejected_share", "top_rejection_reasons", "traffic"]
    DUPLICATE_EVENTS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_SHARE_FIELD_NUMBER: _ClassVar[int]
    PENDING_ATTRIBUTION_EVENTS_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_EVENTS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_SHARE_FIELD_NUMBER: _ClassVar[int]
    TOP_REJECTION_REASONS_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    duplicate_events: int
    duplicate_share: float
    pending_attribution_events: int
    received_events: int
    rejected_events: int
    rejected_share: float
    top_rejection_reasons: _containers.RepeatedCompositeFieldContainer[RejectionReasonCount]
    traffic: _containers.RepeatedCompositeFieldContainer[TrafficShare]
    def __init__(self, received_events: _Optional[int] = ..., rejected_events: _Optional[int] = ..., rejected_share: _Optional[float] = ..., top_rejection_reasons: _Optional[_Iterable[_Union[RejectionReasonCount, _Mapping]]] = ..., duplicate_events: _Optional[int] = ..., duplicate_share: _Optional[float] = ..., pending_attribution_events: _Optional[int] = ..., traffic: _Optional[_Iterable[_Union[TrafficShare, _Mapping]]] = ...) -> None: ...

class ExportExperimentReportRequest(_message.Message):
    __slots__ = ["breakdown_dimension", "experiment_id", "format", "saved_segment", "segment", "to"]
    BREAKDOWN_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    breakdown_dimension: str
    experiment_id: str
    format: ExportFormat
    saved_segment: str
    segment: _containers.RepeatedCompositeFieldContainer[SegmentCondition]
    to: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[_Union[ExportFormat, str]] = ..., segment: _Optional[_Iterable[_Union[SegmentCondition, _Mapping]]] = ..., breakdown_dimension: _Optional[str] = ..., saved_segment: _Optional[str] = ..., **kwargs) -> None: ...

class ExportExperimentReportResponse(_message.Message):
    __slots__ = ["content_type", "data", "filename"]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    content_type: str
    data: bytes
    filename: str
    def __init__(self, content_type: _Optional[str] = ..., data: _Optional[bytes] = ..., filename: _Optional[str] = ...) -> None: ...

class FunnelResult(_message.Message):
    __slots__ = ["steps", "subjects"]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStepResult]
    subjects: int
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStepResult, _Mapping]]] = ..., subjects: _Optional[int] = ...) -> None: ...

class FunnelStepResult(_message.Message):
    __slots__ = ["comparison", "drop_off", "event_type_key", "share", "share_interval", "step_conversion", "subjects"]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    DROP_OFF_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_KEY_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    SHARE_INTERVAL_FIELD_NUMBER: _ClassVar[int]
    STEP_CONVERSION_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    comparison: Comparison
    drop_off: float
    event_type_key: str
    share: float
    share_interval: Interval
    step_conversion: float
    subjects: int
    def __init__(self, event_type_key: _Optional[str] = ..., subjects: _Optional[int] = ..., share: _Optional[float] = ..., share_interval: _Optional[_Union[Interval, _Mapping]] = ..., step_conversion: _Optional[float] = ..., drop_off: _Optional[float] = ..., comparison: _Optional[_Union[Comparison, _Mapping]] = ...) -> None: ...

class GetExperimentReportRequest(_message.Message):
    __slots__ = ["breakdown_dimension", "bucket_seconds", "experiment_id", "saved_segment", "segment", "to"]
    BREAKDOWN_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    breakdown_dimension: str
    bucket_seconds: int
    experiment_id: str
    saved_segment: str
    segment: _containers.RepeatedCompositeFieldContainer[SegmentCondition]
    to: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., bucket_seconds: _Optional[int] = ..., segment: _Optional[_Iterable[_Union[SegmentCondition, _Mapping]]] = ..., breakdown_dimension: _Optional[str] = ..., saved_segment: _Optional[str] = ..., **kwargs) -> None: ...

class GetExperimentReportResponse(_message.Message):
    __slots__ = ["report"]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: Report
    def __init__(self, report: _Optional[_Union[Report, _Mapping]] = ...) -> None: ...

class GetOutcomeReportRequest(_message.Message):
    __slots__ = ["experiment_id"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ...) -> None: ...

class GetOutcomeReportResponse(_message.Message):
    __slots__ = ["completed_at", "justification", "outcome", "report", "winner_variant_key"]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    WINNER_VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    completed_at: _timestamp_pb2.Timestamp
    justification: str
    outcome: _experiments_pb2.Outcome
    report: Report
    winner_variant_key: str
    def __init__(self, report: _Optional[_Union[Report, _Mapping]] = ..., outcome: _Optional[_Union[_experiments_pb2.Outcome, str]] = ..., winner_variant_key: _Optional[str] = ..., justification: _Optional[str] = ..., completed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Interval(_message.Message):
    __slots__ = ["high", "low"]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    high: float
    low: float
    def __init__(self, low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class ListSegmentValuesRequest(_message.Message):
    __slots__ = ["dimension", "experiment_id"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    experiment_id: str
    def __init__(self, experiment_id: _Optional[str] = ..., dimension: _Optional[str] = ...) -> None: ...

class ListSegmentValuesResponse(_message.Message):
    __slots__ = ["values"]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[SegmentValue]
    def __init__(self, values: _Optional[_Iterable[_Union[SegmentValue, _Mapping]]] = ...) -> None: ...

class MetricResult(_message.Message):
    __slots__ = ["comparison", "funnel", "interval", "metric_key", "retention", "sample_size", "value"]
    COMPARISON_FIELD_NUMBER: _ClassVar[int]
    FUNNEL_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    comparison: Comparison
    funnel: FunnelResult
    interval: Interval
    metric_key: str
    retention: RetentionResult
    sample_size: int
    value: float
    def __init__(self, metric_key: _Optional[str] = ..., value: _Optional[float] = ..., sample_size: _Optional[int] = ..., comparison: _Optional[_Union[Comparison, _Mapping]] = ..., funnel: _Optional[_Union[FunnelResult, _Mapping]] = ..., retention: _Optional[_Union[RetentionResult, _Mapping]] = ..., interval: _Optional[_Union[Interval, _Mapping]] = ...) -> None: ...

class RejectionReasonCount(_message.Message):
    __slots__ = ["code", "count"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    code: _events_pb2.EventErrorCode
    count: int
    def __init__(self, code: _Optional[_Union[_events_pb2.EventErrorCode, str]] = ..., count: _Optional[int] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ["breakdown_dimension", "bucket_seconds", "correction", "data_health", "experiment_id", "experiment_version", "exposures", "generated_at", "metrics", "primary_metric_key", "raw_events_from", "raw_events_incomplete", "saved_segment", "saved_segment_version", "segment", "segments", "segments_compared", "series", "srm", "subjects", "to", "variants"]
    BREAKDOWN_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CORRECTION_FIELD_NUMBER: _ClassVar[int]
    DATA_HEALTH_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    GENERATED_AT_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PRIMARY_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    RAW_EVENTS_FROM_FIELD_NUMBER: _ClassVar[int]
    RAW_EVENTS_INCOMPLETE_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_COMPARED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    SRM_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    breakdown_dimension: str
    bucket_seconds: int
    correction: str
    data_health: DataHealth
    experiment_id: str
    experiment_version: int
    exposures: int
    generated_at: _timestamp_pb2.Timestamp
    metrics: _containers.RepeatedCompositeFieldContainer[MetricResult]
    primary_metric_key: str
    raw_events_from: _timestamp_pb2.Timestamp
    raw_events_incomplete: bool
    saved_segment: str
    saved_segment_version: int
    segment: _containers.RepeatedCompositeFieldContainer[SegmentCondition]
    segments: _containers.RepeatedCompositeFieldContainer[SegmentReport]
    segments_compared: int
    series: _containers.RepeatedCompositeFieldContainer[TimeSeries]
    srm: SampleRatioMismatch
    subjects: int
    to: _timestamp_pb2.Timestamp
    variants: _containers.RepeatedCompositeFieldContainer[VariantReport]
    def __init__(self, experiment_id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., exposures: _Optional[int] = ..., subjects: _Optional[int] = ..., variants: _Optional[_Iterable[_Union[VariantReport, _Mapping]]] = ..., srm: _Optional[_Union[SampleRatioMismatch, _Mapping]] = ..., data_health: _Optional[_Union[DataHealth, _Mapping]] = ..., series: _Optional[_Iterable[_Union[TimeSeries, _Mapping]]] = ..., primary_metric_key: _Optional[str] = ..., experiment_version: _Optional[int] = ..., generated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., bucket_seconds: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., correction: _Optional[str] = ..., segment: _Optional[_Iterable[_Union[SegmentCondition, _Mapping]]] = ..., breakdown_dimension: _Optional[str] = ..., segments: _Optional[_Iterable[_Union[SegmentReport, _Mapping]]] = ..., segments_compared: _Optional[int] = ..., raw_events_from: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., raw_events_incomplete: bool = ..., saved_segment: _Optional[str] = ..., saved_segment_version: _Optional[int] = ..., **kwargs) -> None: ...

class RetentionResult(_message.Message):
    __slots__ = ["eligible_subjects", "maturing_subjects", "retained_subjects"]
    ELIGIBLE_SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    MATURING_SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    RETAINED_SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    eligible_subjects: int
    maturing_subjects: int
    retained_subjects: int
    def __init__(self, eligible_subjects: _Optional[int] = ..., retained_subjects: _Optional[int] = ..., maturing_subjects: _Optional[int] = ...) -> None: ...

class SampleRatioMismatch(_message.Message):
    __slots__ = ["chi_square", "mismatch", "p_value"]
    CHI_SQUARE_FIELD_NUMBER: _ClassVar[int]
    MISMATCH_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    chi_square: float
    mismatch: bool
    p_value: float
    def __init__(self, p_value: _Optional[float] = ..., mismatch: bool = ..., chi_square: _Optional[float] = ...) -> None: ...

class SegmentCondition(_message.Message):
    __slots__ = ["dimension", "values"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dimension: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class SegmentReport(_message.Message):
    __slots__ = ["dimension", "exposures", "metrics", "srm", "subjects", "value", "variants"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SRM_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    dimension: str
    exposures: int
    metrics: _containers.RepeatedCompositeFieldContainer[MetricResult]
    srm: SampleRatioMismatch
    subjects: int
    value: str
    variants: _containers.RepeatedCompositeFieldContainer[VariantReport]
    def __init__(self, dimension: _Optional[str] = ..., value: _Optional[str] = ..., exposures: _Optional[int] = ..., subjects: _Optional[int] = ..., variants: _Optional[_Iterable[_Union[VariantReport, _Mapping]]] = ..., metrics: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., srm: _Optional[_Union[SampleRatioMismatch, _Mapping]] = ...) -> None: ...

class SegmentValue(_message.Message):
    __slots__ = ["subjects", "value"]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    subjects: int
    value: str
    def __init__(self, value: _Optional[str] = ..., subjects: _Optional[int] = ...) -> None: ...

class SeriesPoint(_message.Message):
    __slots__ = ["end", "sample_size", "start", "value"]
    END_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    end: _timestamp_pb2.Timestamp
    sample_size: int
    start: _timestamp_pb2.Timestamp
    value: float
    def __init__(self, start: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., value: _Optional[float] = ..., sample_size: _Optional[int] = ...) -> None: ...

class TimeSeries(_message.Message):
    __slots__ = ["metric_key", "points", "variant_key"]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    metric_key: str
    points: _containers.RepeatedCompositeFieldContainer[SeriesPoint]
    variant_key: str
    def __init__(self, metric_key: _Optional[str] = ..., variant_key: _Optional[str] = ..., points: _Optional[_Iterable[_Union[SeriesPoint, _Mapping]]] = ...) -> None: ...

class TrafficShare(_message.Message):
    __slots__ = ["expected_share", "observed_share", "variant_key"]
    EXPECTED_SHARE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_SHARE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    expected_share: float
    observed_share: float
    variant_key: str
    def __init__(self, variant_key: _Optional[str] = ..., expected_share: _Optional[float] = ..., observed_share: _Optional[float] = ...) -> None: ...

class VariantReport(_message.Message):
    __slots__ = ["control", "exposures", "metrics", "subjects", "variant_key", "weight"]
    CONTROL_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    SUBJECTS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    control: bool
    exposures: int
    metrics: _containers.RepeatedCompositeFieldContainer[MetricResult]
    subjects: int
    variant_key: str
    weight: float
    def __init__(self, variant_key: _Optional[str] = ..., control: bool = ..., exposures: _Optional[int] = ..., subjects: _Optional[int] = ..., metrics: _Optional[_Iterable[_Union[MetricResult, _Mapping]]] = ..., weight: _Optional[float] = ...) -> None: ...

class WatchExperimentReportRequest(_message.Message):
    __slots__ = ["breakdown_dimension", "bucket_seconds", "experiment_id", "saved_segment", "segment"]
    BREAKDOWN_DIMENSION_FIELD_NUMBER: _ClassVar[int]
    BUCKET_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    breakdown_dimension: str
    bucket_seconds: int
    experiment_id: str
    saved_segment: str
    segment: _containers.RepeatedCompositeFieldContainer[SegmentCondition]
    def __init__(self, experiment_id: _Optional[str] = ..., bucket_seconds: _Optional[int] = ..., segment: _Optional[_Iterable[_Union[SegmentCondition, _Mapping]]] = ..., breakdown_dimension: _Optional[str] = ..., saved_segment: _Optional[str] = ..., **kwargs) -> None: ...

class WatchExperimentReportResponse(_message.Message):
    __slots__ = ["report"]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: Report
    def __init__(self, report: _Optional[_Union[Report, _Mapping]] = ...) -> None: ...

class ExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
