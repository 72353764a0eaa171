from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
FILTER_OPERATOR_EQUAL: FilterOperator
FILTER_OPERATOR_GREATER: FilterOperator
FILTER_OPERATOR_GREATER_OR_EQUAL: FilterOperator
FILTER_OPERATOR_LESS: FilterOperator
FILTER_OPERATOR_LESS_OR_EQUAL: FilterOperator
FILTER_OPERATOR_NOT_EQUAL: FilterOperator
FILTER_OPERATOR_UNSPECIFIED: FilterOperator
FUNNEL_ORDER_LOOSE: FunnelOrder
FUNNEL_ORDER_STRICT: FunnelOrder
FUNNEL_ORDER_UNSPECIFIED: FunnelOrder
METRIC_KIND_CONVERSION_RATE: MetricKind
METRIC_KIND_COUNT: MetricKind
METRIC_KIND_FUNNEL: MetricKind
METRIC_KIND_MEAN: MetricKind
METRIC_KIND_PERCENTILE: MetricKind
METRIC_KIND_RATIO: MetricKind
METRIC_KIND_RETENTION: MetricKind
METRIC_KIND_SESSION_COUNT: MetricKind
METRIC_KIND_SESSION_DURATION: MetricKind
METRIC_KIND_SUM: MetricKind
METRIC_KIND_UNSPECIFIED: MetricKind
PROPERTY_TYPE_BOOL: PropertyType
PROPERTY_TYPE_NUMBER: PropertyType
PROPERTY_TYPE_STRING: PropertyType
PROPERTY_TYPE_TIMESTAMP: PropertyType
PROPERTY_TYPE_UNSPECIFIED: PropertyType

class ArchiveDimensionRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ArchiveDimensionResponse(_message.Message):
    __slots__ = ["dimension"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    def __init__(self, dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class ArchiveEventTypeRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ArchiveEventTypeResponse(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class ArchiveMetricRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ArchiveMetricResponse(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class CreateDimensionRequest(_message.Message):
    __slots__ = ["dimension"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    def __init__(self, dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class CreateDimensionResponse(_message.Message):
    __slots__ = ["dimension"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    def __init__(self, dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class CreateEventTypeRequest(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class CreateEventTypeResponse(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class CreateMetricRequest(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class CreateMetricResponse(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class CreateSavedSegmentRequest(_message.Message):
    __slots__ = ["saved_segment"]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    saved_segment: SavedSegment
    def __init__(self, saved_segment: _Optional[_Union[SavedSegment, _Mapping]] = ...) -> None: ...

class CreateSavedSegmentResponse(_message.Message):
    __slots__ = ["saved_segment"]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    saved_segment: SavedSegment
    def __init__(self, saved_segment: _Optional[_Union[SavedSegment, _Mapping]] = ...) -> None: ...

class DeleteSavedSegmentRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class DeleteSavedSegmentResponse(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class Dimension(_message.Message):
    __slots__ = ["archived", "created_at", "description", "display_name", "key", "max_values", "updated_at"]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_VALUES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    archived: bool
    created_at: _timestamp_pb2.Timestamp
    description: str
    display_name: str
    key: str
    max_values: int
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., max_values: _Optional[int] = ..., archived: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EventProperty(_message.Message):
    __slots__ = ["name", "required", "type"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    required: bool
    type: PropertyType
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[PropertyType, str]] = ..., required: bool = ...) -> None: ...

class EventType(_message.Message):
    __slots__ = ["archived", "builtin", "created_at", "description", "key", "name", "properties", "requires_exposure", "updated_at"]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    archived: bool
    builtin: bool
    created_at: _timestamp_pb2.Timestamp
    description: str
    key: str
    name: str
    properties: _containers.RepeatedCompositeFieldContainer[EventProperty]
    requires_exposure: bool
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., properties: _Optional[_Iterable[_Union[EventProperty, _Mapping]]] = ..., requires_exposure: bool = ..., archived: bool = ..., builtin: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FunnelDefinition(_message.Message):
    __slots__ = ["conversion_window_seconds", "order", "steps"]
    CONVERSION_WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    conversion_window_seconds: int
    order: FunnelOrder
    steps: _containers.RepeatedCompositeFieldContainer[FunnelStep]
    def __init__(self, steps: _Optional[_Iterable[_Union[FunnelStep, _Mapping]]] = ..., conversion_window_seconds: _Optional[int] = ..., order: _Optional[_Union[FunnelOrder, str]] = ...) -> None: ...

class FunnelStep(_message.Message):
    __slots__ = ["event_type_key", "filter"]
    EVENT_TYPE_KEY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    event_type_key: str
    filter: PropertyFilter
    def __init__(self, event_type_key: _Optional[str] = ..., filter: _Optional[_Union[PropertyFilter, _Mapping]] = ...) -> None: ...

class GetEventTypeRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetEventTypeResponse(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class GetMetricRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetMetricResponse(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class GetSavedSegmentRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetSavedSegmentResponse(_message.Message):
    __slots__ = ["saved_segment"]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    saved_segment: SavedSegment
    def __init__(self, saved_segment: _Optional[_Union[SavedSegment, _Mapping]] = ...) -> None: ...

class ListDimensionsRequest(_message.Message):
    __slots__ = ["include_archived", "page_size", "page_token"]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_archived: bool
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_archived: bool = ...) -> None: ...

class ListDimensionsResponse(_message.Message):
    __slots__ = ["dimensions", "next_page_token"]
    DIMENSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dimensions: _containers.RepeatedCompositeFieldContainer[Dimension]
    next_page_token: str
    def __init__(self, dimensions: _Optional[_Iterable[_Union[Dimension, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListEventTypesRequest(_message.Message):
    __slots__ = ["include_archived", "page_size", "page_token"]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_archived: bool
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_archived: bool = ...) -> None: ...

class ListEventTypesResponse(_message.Message):
    __slots__ = ["event_types", "next_page_token"]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_types: _containers.RepeatedCompositeFieldContainer[EventType]
    next_page_token: str
    def __init__(self, event_types: _Optional[_Iterable[_Union[EventType, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMetricsRequest(_message.Message):
    __slots__ = ["include_archived", "page_size", "page_token"]
    INCLUDE_ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    include_archived: bool
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., include_archived: bool = ...) -> None: ...

class ListMetricsResponse(_message.Message):
    __slots__ = ["metrics", "next_page_token"]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[Metric]
    next_page_token: str
    def __init__(self, metrics: _Optional[_Iterable[_Union[Metric, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSavedSegmentVersionsRequest(_message.Message):
    __slots__ = ["key"]
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class ListSavedSegmentVersionsResponse(_message.Message):
    __slots__ = ["versions"]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    versions: _containers.RepeatedCompositeFieldContainer[SavedSegmentVersion]
    def __init__(self, versions: _Optional[_Iterable[_Union[SavedSegmentVersion, _Mapping]]] = ...) -> None: ...

class ListSavedSegmentsRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSavedSegmentsResponse(_message.Message):
    __slots__ = ["next_page_token", "saved_segments"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    saved_segments: _containers.RepeatedCompositeFieldContainer[SavedSegment]
    def __init__(self, saved_segments: _Optional[_Iterable[_Union[SavedSegment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class Metric(_message.Message):
    __slots__ = ["archived", "builtin", "created_at", "denominator_metric_key", "description", "event_type_key", "funnel", "key", "kind", "name", "numerator_metric_key", "percentile", "property", "requires_exposure", "retention", "session", "updated_at"]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    BUILTIN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_KEY_FIELD_NUMBER: _ClassVar[int]
    FUNNEL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUMERATOR_METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    PERCENTILE_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    REQUIRES_EXPOSURE_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    archived: bool
    builtin: bool
    created_at: _timestamp_pb2.Timestamp
    denominator_metric_key: str
    description: str
    event_type_key: str
    funnel: FunnelDefinition
    key: str
    kind: MetricKind
    name: str
    numerator_metric_key: str
    percentile: float
    property: str
    requires_exposure: bool
    retention: RetentionDefinition
    session: SessionDefinition
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., kind: _Optional[_Union[MetricKind, str]] = ..., event_type_key: _Optional[str] = ..., property: _Optional[str] = ..., percentile: _Optional[float] = ..., numerator_metric_key: _Optional[str] = ..., denominator_metric_key: _Optional[str] = ..., requires_exposure: bool = ..., archived: bool = ..., builtin: bool = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., funnel: _Optional[_Union[FunnelDefinition, _Mapping]] = ..., retention: _Optional[_Union[RetentionDefinition, _Mapping]] = ..., session: _Optional[_Union[SessionDefinition, _Mapping]] = ...) -> None: ...

class PropertyFilter(_message.Message):
    __slots__ = ["operator", "property", "value"]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    operator: FilterOperator
    property: str
    value: str
    def __init__(self, property: _Optional[str] = ..., operator: _Optional[_Union[FilterOperator, str]] = ..., value: _Optional[str] = ...) -> None: ...

class RetentionDefinition(_message.Message):
    __slots__ = ["day_from", "day_to"]
    DAY_FROM_FIELD_NUMBER: _ClassVar[int]
    DAY_TO_FIELD_NUMBER: _ClassVar[int]
    day_from: int
    day_to: int
    def __init__(self, day_from: _Optional[int] = ..., day_to: _Optional[int] = ...) -> None: ...

class SavedSegment(_message.Message):
    __slots__ = ["attributes", "created_at", "created_by", "description", "display_name", "key", "rule", "updated_at", "used_by", "version"]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    USED_BY_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    attributes: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    description: str
    display_name: str
    key: str
    rule: str
    updated_at: _timestamp_pb2.Timestamp
    used_by: _containers.RepeatedCompositeFieldContainer[SavedSegmentUser]
    version: int
    def __init__(self, key: _Optional[str] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., created_by: _Optional[str] = ..., used_by: _Optional[_Iterable[_Union[SavedSegmentUser, _Mapping]]] = ..., attributes: _Optional[_Iterable[str]] = ...) -> None: ...

class SavedSegmentUser(_message.Message):
    __slots__ = ["experiment_id", "experiment_name", "experiment_version", "flag_key", "segment_version", "status"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    experiment_name: str
    experiment_version: int
    flag_key: str
    segment_version: int
    status: str
    def __init__(self, experiment_id: _Optional[str] = ..., flag_key: _Optional[str] = ..., experiment_name: _Optional[str] = ..., experiment_version: _Optional[int] = ..., segment_version: _Optional[int] = ..., status: _Optional[str] = ...) -> None: ...

class SavedSegmentVersion(_message.Message):
    __slots__ = ["author_id", "created_at", "description", "display_name", "rule", "version"]
    AUTHOR_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    author_id: str
    created_at: _timestamp_pb2.Timestamp
    description: str
    display_name: str
    rule: str
    version: int
    def __init__(self, version: _Optional[int] = ..., display_name: _Optional[str] = ..., description: _Optional[str] = ..., rule: _Optional[str] = ..., author_id: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionDefinition(_message.Message):
    __slots__ = ["gap_seconds"]
    GAP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    gap_seconds: int
    def __init__(self, gap_seconds: _Optional[int] = ...) -> None: ...

class UpdateDimensionRequest(_message.Message):
    __slots__ = ["dimension"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    def __init__(self, dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class UpdateDimensionResponse(_message.Message):
    __slots__ = ["dimension"]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    dimension: Dimension
    def __init__(self, dimension: _Optional[_Union[Dimension, _Mapping]] = ...) -> None: ...

class UpdateEventTypeRequest(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class UpdateEventTypeResponse(_message.Message):
    __slots__ = ["event_type"]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    event_type: EventType
    def __init__(self, event_type: _Optional[_Union[EventType, _Mapping]] = ...) -> None: ...

class UpdateMetricRequest(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class UpdateMetricResponse(_message.Message):
    __slots__ = ["metric"]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    metric: Metric
    def __init__(self, metric: _Optional[_Union[Metric, _Mapping]] = ...) -> None: ...

class UpdateSavedSegmentRequest(_message.Message):
    __slots__ = ["expected_version", "saved_segment"]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    expected_version: int
    saved_segment: SavedSegment
    def __init__(self, saved_segment: _Optional[_Union[SavedSegment, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class UpdateSavedSegmentResponse(_message.Message):
    __slots__ = ["saved_segment"]
    SAVED_SEGMENT_FIELD_NUMBER: _ClassVar[int]
    saved_segment: SavedSegment
    def __init__(self, saved_segment: _Optional[_Union[SavedSegment, _Mapping]] = ...) -> None: ...

class PropertyType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class MetricKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FunnelOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class FilterOperator(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
