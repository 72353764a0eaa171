from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lotty.experiments.v1 import experiments_pb2 as _experiments_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GuardrailTrigger(_message.Message):
    __slots__ = ["action", "direction", "experiment_id", "experiment_version", "id", "metric_key", "observed_value", "sample_size", "threshold", "triggered_at", "variant_key", "window_seconds"]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_KEY_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_VALUE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_SIZE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    TRIGGERED_AT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    action: _experiments_pb2.GuardrailAction
    direction: _experiments_pb2.Direction
    experiment_id: str
    experiment_version: int
    id: str
    metric_key: str
    observed_value: float
    sample_size: int
    threshold: float
    triggered_at: _timestamp_pb2.Timestamp
    variant_key: str
    window_seconds: int
    def __init__(self, id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., metric_key: _Optional[str] = ..., threshold: _Optional[float] = ..., window_seconds: _Optional[int] = ..., action: _Optional[_Union[_experiments_pb2.GuardrailAction, str]] = ..., observed_value: _Optional[float] = ..., triggered_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., direction: _Optional[_Union[_experiments_pb2.Direction, str]] = ..., variant_key: _Optional[str] = ..., sample_size: _Optional[int] = ..., experiment_version: _Optional[int] = ...) -> None: ...

class ListGuardrailTriggersRequest(_message.Message):
    __slots__ = ["experiment_id", "page_size", "page_token"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    page_size: int
    page_token: str
    def __init__(self, experiment_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGuardrailTriggersResponse(_message.Message):
    __slots__ = ["next_page_token", "triggers"]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TRIGGERS_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    triggers: _containers.RepeatedCompositeFieldContainer[GuardrailTrigger]
    def __init__(self, triggers: _Optional[_Iterable[_Union[GuardrailTrigger, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
