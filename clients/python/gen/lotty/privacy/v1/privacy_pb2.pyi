from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
ERASURE_STATUS_DONE: ErasureStatus
ERASURE_STATUS_FAILED: ErasureStatus
ERASURE_STATUS_PENDING: ErasureStatus
ERASURE_STATUS_RUNNING: ErasureStatus
ERASURE_STATUS_UNSPECIFIED: ErasureStatus

class EraseSubjectsRequest(_message.Message):
    __slots__ = ["reason", "subject_ids"]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    reason: str
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, subject_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class EraseSubjectsResponse(_message.Message):
    __slots__ = ["erasure"]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    erasure: Erasure
    def __init__(self, erasure: _Optional[_Union[Erasure, _Mapping]] = ...) -> None: ...

class Erasure(_message.Message):
    __slots__ = ["affected_experiment_ids", "created_at", "error", "finished_at", "id", "reason", "removed", "requested_by", "started_at", "status", "subject_count", "subject_ids"]
    AFFECTED_EXPERIMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_COUNT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    affected_experiment_ids: _containers.RepeatedScalarFieldContainer[str]
    created_at: _timestamp_pb2.Timestamp
    error: str
    finished_at: _timestamp_pb2.Timestamp
    id: str
    reason: str
    removed: ErasureCounts
    requested_by: str
    started_at: _timestamp_pb2.Timestamp
    status: ErasureStatus
    subject_count: int
    subject_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., status: _Optional[_Union[ErasureStatus, str]] = ..., subject_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ..., requested_by: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., error: _Optional[str] = ..., removed: _Optional[_Union[ErasureCounts, _Mapping]] = ..., affected_experiment_ids: _Optional[_Iterable[str]] = ..., subject_count: _Optional[int] = ...) -> None: ...

class ErasureCounts(_message.Message):
    __slots__ = ["affected_experiments", "events", "exposures", "pending_attributions"]
    AFFECTED_EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    PENDING_ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    affected_experiments: int
    events: int
    exposures: int
    pending_attributions: int
    def __init__(self, events: _Optional[int] = ..., exposures: _Optional[int] = ..., pending_attributions: _Optional[int] = ..., affected_experiments: _Optional[int] = ...) -> None: ...

class ExportSubjectDataRequest(_message.Message):
    __slots__ = ["subject_id"]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ...) -> None: ...

class ExportSubjectDataResponse(_message.Message):
    __slots__ = ["events", "exported_at", "exposures", "pending_attributions", "subject_id", "truncated"]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    EXPORTED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPOSURES_FIELD_NUMBER: _ClassVar[int]
    PENDING_ATTRIBUTIONS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[SubjectEvent]
    exported_at: _timestamp_pb2.Timestamp
    exposures: _containers.RepeatedCompositeFieldContainer[SubjectExposure]
    pending_attributions: _containers.RepeatedCompositeFieldContainer[SubjectPendingAttribution]
    subject_id: str
    truncated: bool
    def __init__(self, subject_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[SubjectEvent, _Mapping]]] = ..., truncated: bool = ..., exposures: _Optional[_Iterable[_Union[SubjectExposure, _Mapping]]] = ..., pending_attributions: _Optional[_Iterable[_Union[SubjectPendingAttribution, _Mapping]]] = ..., exported_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetErasureRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetErasureResponse(_message.Message):
    __slots__ = ["erasure"]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    erasure: Erasure
    def __init__(self, erasure: _Optional[_Union[Erasure, _Mapping]] = ...) -> None: ...

class ListErasuresRequest(_message.Message):
    __slots__ = ["page_size", "page_token"]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListErasuresResponse(_message.Message):
    __slots__ = ["erasures", "next_page_token"]
    ERASURES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    erasures: _containers.RepeatedCompositeFieldContainer[Erasure]
    next_page_token: str
    def __init__(self, erasures: _Optional[_Iterable[_Union[Erasure, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class SubjectEvent(_message.Message):
    __slots__ = ["counted", "decision_id", "event_id", "event_type", "experiment_id", "flag_key", "occurred_at", "properties", "received_at", "variant_key"]
    COUNTED_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    counted: bool
    decision_id: str
    event_id: str
    event_type: str
    experiment_id: str
    flag_key: str
    occurred_at: _timestamp_pb2.Timestamp
    properties: _struct_pb2.Struct
    received_at: _timestamp_pb2.Timestamp
    variant_key: str
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., decision_id: _Optional[str] = ..., flag_key: _Optional[str] = ..., experiment_id: _Optional[str] = ..., variant_key: _Optional[str] = ..., occurred_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., received_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., properties: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., counted: bool = ...) -> None: ...

class SubjectExposure(_message.Message):
    __slots__ = ["decision_id", "event_id", "experiment_id", "exposed_at", "flag_key", "variant_key"]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_AT_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    event_id: str
    experiment_id: str
    exposed_at: _timestamp_pb2.Timestamp
    flag_key: str
    variant_key: str
    def __init__(self, decision_id: _Optional[str] = ..., event_id: _Optional[str] = ..., flag_key: _Optional[str] = ..., experiment_id: _Optional[str] = ..., variant_key: _Optional[str] = ..., exposed_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SubjectPendingAttribution(_message.Message):
    __slots__ = ["decision_id", "event_id", "experiment_id", "expires_at", "occurred_at"]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    event_id: str
    experiment_id: str
    expires_at: _timestamp_pb2.Timestamp
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., decision_id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., occurred_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ErasureStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
