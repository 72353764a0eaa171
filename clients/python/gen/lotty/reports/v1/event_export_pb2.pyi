from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
EVENT_EXPORT_FORMAT_CSV: EventExportFormat
EVENT_EXPORT_FORMAT_JSONL: EventExportFormat
EVENT_EXPORT_FORMAT_PARQUET: EventExportFormat
EVENT_EXPORT_FORMAT_UNSPECIFIED: EventExportFormat
EVENT_EXPORT_STATUS_DONE: EventExportStatus
EVENT_EXPORT_STATUS_EXPIRED: EventExportStatus
EVENT_EXPORT_STATUS_FAILED: EventExportStatus
EVENT_EXPORT_STATUS_QUEUED: EventExportStatus
EVENT_EXPORT_STATUS_RUNNING: EventExportStatus
EVENT_EXPORT_STATUS_UNSPECIFIED: EventExportStatus

class CreateEventExportLinkRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CreateEventExportLinkResponse(_message.Message):
    __slots__ = ["expires_at", "path"]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    expires_at: _timestamp_pb2.Timestamp
    path: str
    def __init__(self, path: _Optional[str] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class EventExport(_message.Message):
    __slots__ = ["bytes", "content_type", "created_at", "created_by", "error", "experiment_id", "expires_at", "filename", "finished_at", "format", "id", "rows", "started_at", "status", "to"]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    bytes: int
    content_type: str
    created_at: _timestamp_pb2.Timestamp
    created_by: str
    error: str
    experiment_id: str
    expires_at: _timestamp_pb2.Timestamp
    filename: str
    finished_at: _timestamp_pb2.Timestamp
    format: EventExportFormat
    id: str
    rows: int
    started_at: _timestamp_pb2.Timestamp
    status: EventExportStatus
    to: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., experiment_id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[_Union[EventExportFormat, str]] = ..., status: _Optional[_Union[EventExportStatus, str]] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., error: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., **kwargs) -> None: ...

class GetEventExportRequest(_message.Message):
    __slots__ = ["id"]
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetEventExportResponse(_message.Message):
    __slots__ = ["event_export"]
    EVENT_EXPORT_FIELD_NUMBER: _ClassVar[int]
    event_export: EventExport
    def __init__(self, event_export: _Optional[_Union[EventExport, _Mapping]] = ...) -> None: ...

class ListEventExportsRequest(_message.Message):
    __slots__ = ["experiment_id", "page_size", "page_token"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    page_size: int
    page_token: str
    def __init__(self, experiment_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventExportsResponse(_message.Message):
    __slots__ = ["event_exports", "next_page_token"]
    EVENT_EXPORTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_exports: _containers.RepeatedCompositeFieldContainer[EventExport]
    next_page_token: str
    def __init__(self, event_exports: _Optional[_Iterable[_Union[EventExport, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReadEventExportRequest(_message.Message):
    __slots__ = ["id", "max_bytes", "offset"]
    ID_FIELD_NUMBER: _ClassVar[int]
    MAX_BYTES_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    id: str
    max_bytes: int
    offset: int
    def __init__(self, id: _Optional[str] = ..., offset: _Optional[int] = ..., max_bytes: _Optional[int] = ...) -> None: ...

class ReadEventExportResponse(_message.Message):
    __slots__ = ["data", "eof", "next_offset", "size"]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EOF_FIELD_NUMBER: _ClassVar[int]
    NEXT_OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    eof: bool
    next_offset: int
    size: int
    def __init__(self, data: _Optional[bytes] = ..., next_offset: _Optional[int] = ..., eof: bool = ..., size: _Optional[int] = ...) -> None: ...

class StartEventExportRequest(_message.Message):
    __slots__ = ["experiment_id", "format", "to"]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    format: EventExportFormat
    to: _timestamp_pb2.Timestamp
    def __init__(self, experiment_id: _Optional[str] = ..., to: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., format: _Optional[_Union[EventExportFormat, str]] = ..., **kwargs) -> None: ...

class StartEventExportResponse(_message.Message):
    __slots__ = ["event_export"]
    EVENT_EXPORT_FIELD_NUMBER: _ClassVar[int]
    event_export: EventExport
    def __init__(self, event_export: _Optional[_Union[EventExport, _Mapping]] = ...) -> None: ...

class EventExportFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []

class EventExportStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
