from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENT_ERROR_CODE_ARCHIVED_EVENT_TYPE: EventErrorCode
EVENT_ERROR_CODE_INVALID_DECISION_ID: EventErrorCode
EVENT_ERROR_CODE_INVALID_FIELD: EventErrorCode
EVENT_ERROR_CODE_INVALID_PROPERTY: EventErrorCode
EVENT_ERROR_CODE_MISSING_FIELD: EventErrorCode
EVENT_ERROR_CODE_MISSING_PROPERTY: EventErrorCode
EVENT_ERROR_CODE_TIMESTAMP_OUT_OF_RANGE: EventErrorCode
EVENT_ERROR_CODE_UNKNOWN_EVENT_TYPE: EventErrorCode
EVENT_ERROR_CODE_UNSPECIFIED: EventErrorCode

class Event(_message.Message):
    __slots__ = ["decision_id", "event_id", "event_type", "occurred_at", "properties"]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    event_id: str
    event_type: str
    occurred_at: _timestamp_pb2.Timestamp
    properties: _struct_pb2.Struct
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., decision_id: _Optional[str] = ..., occurred_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EventError(_message.Message):
    __slots__ = ["code", "event_id", "index", "message"]
    CODE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: EventErrorCode
    event_id: str
    index: int
    message: str
    def __init__(self, index: _Optional[int] = ..., event_id: _Optional[str] = ..., code: _Optional[_Union[EventErrorCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class IngestEventsRequest(_message.Message):
    __slots__ = ["events"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[Event]
    def __init__(self, events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ...) -> None: ...

class IngestEventsResponse(_message.Message):
    __slots__ = ["accepted", "duplicates", "errors", "rejected"]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    duplicates: int
    errors: _containers.RepeatedCompositeFieldContainer[EventError]
    rejected: int
    def __init__(self, accepted: _Optional[int] = ..., duplicates: _Optional[int] = ..., rejected: _Optional[int] = ..., errors: _Optional[_Iterable[_Union[EventError, _Mapping]]] = ...) -> None: ...

class EventErrorCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
