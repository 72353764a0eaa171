from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DECISION_REASON_DEFAULT: DecisionReason
DECISION_REASON_DOMAIN_CONFLICT: DecisionReason
DECISION_REASON_EXPERIMENT: DecisionReason
DECISION_REASON_FLAG_NOT_FOUND: DecisionReason
DECISION_REASON_OUTSIDE_AUDIENCE: DecisionReason
DECISION_REASON_PARTICIPATION_LIMIT: DecisionReason
DECISION_REASON_ROLLED_BACK: DecisionReason
DECISION_REASON_TARGETING_MISMATCH: DecisionReason
DECISION_REASON_UNSPECIFIED: DecisionReason
DESCRIPTOR: _descriptor.FileDescriptor

class Configuration(_message.Message):
    __slots__ = ["built_at", "format", "source_json", "version"]
    BUILT_AT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_JSON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    built_at: _timestamp_pb2.Timestamp
    format: int
    source_json: str
    version: str
    def __init__(self, version: _Optional[str] = ..., format: _Optional[int] = ..., source_json: _Optional[str] = ..., built_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DecideRequest(_message.Message):
    __slots__ = ["attributes", "flag_keys", "subject_id"]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEYS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    attributes: _struct_pb2.Struct
    flag_keys: _containers.RepeatedScalarFieldContainer[str]
    subject_id: str
    def __init__(self, subject_id: _Optional[str] = ..., attributes: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., flag_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class DecideResponse(_message.Message):
    __slots__ = ["decisions"]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ["decision_id", "experiment_id", "flag_key", "reason", "value", "variant_key"]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    FLAG_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_KEY_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    experiment_id: str
    flag_key: str
    reason: DecisionReason
    value: _struct_pb2.Value
    variant_key: str
    def __init__(self, flag_key: _Optional[str] = ..., value: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., decision_id: _Optional[str] = ..., reason: _Optional[_Union[DecisionReason, str]] = ..., experiment_id: _Optional[str] = ..., variant_key: _Optional[str] = ...) -> None: ...

class GetConfigurationRequest(_message.Message):
    __slots__ = ["if_none_match"]
    IF_NONE_MATCH_FIELD_NUMBER: _ClassVar[int]
    if_none_match: str
    def __init__(self, if_none_match: _Optional[str] = ...) -> None: ...

class GetConfigurationResponse(_message.Message):
    __slots__ = ["configuration", "not_modified", "signing_key"]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    NOT_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    configuration: Configuration
    not_modified: bool
    signing_key: LocalSigningKey
    def __init__(self, not_modified: bool = ..., configuration: _Optional[_Union[Configuration, _Mapping]] = ..., signing_key: _Optional[_Union[LocalSigningKey, _Mapping]] = ...) -> None: ...

class GetParticipationPolicyRequest(_message.Message):
    __slots__ = []
    def __init__(self) -> None: ...

class GetParticipationPolicyResponse(_message.Message):
    __slots__ = ["policy"]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: ParticipationPolicy
    def __init__(self, policy: _Optional[_Union[ParticipationPolicy, _Mapping]] = ...) -> None: ...

class LocalSigningKey(_message.Message):
    __slots__ = ["key_id", "secret"]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    secret: bytes
    def __init__(self, key_id: _Optional[str] = ..., secret: _Optional[bytes] = ...) -> None: ...

class ParticipationPolicy(_message.Message):
    __slots__ = ["cooldown_seconds", "is_default", "max_concurrent_experiments", "updated_at", "updated_by"]
    COOLDOWN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_BY_FIELD_NUMBER: _ClassVar[int]
    cooldown_seconds: int
    is_default: bool
    max_concurrent_experiments: int
    updated_at: _timestamp_pb2.Timestamp
    updated_by: str
    def __init__(self, max_concurrent_experiments: _Optional[int] = ..., cooldown_seconds: _Optional[int] = ..., is_default: bool = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_by: _Optional[str] = ...) -> None: ...

class SetParticipationPolicyRequest(_message.Message):
    __slots__ = ["cooldown_seconds", "max_concurrent_experiments"]
    COOLDOWN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_EXPERIMENTS_FIELD_NUMBER: _ClassVar[int]
    cooldown_seconds: int
    max_concurrent_experiments: int
    def __init__(self, max_concurrent_experiments: _Optional[int] = ..., cooldown_seconds: _Optional[int] = ...) -> None: ...

class SetParticipationPolicyResponse(_message.Message):
    __slots__ = ["policy"]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: ParticipationPolicy
    def __init__(self, policy: _Optional[_Union[ParticipationPolicy, _Mapping]] = ...) -> None: ...

class WatchConfigurationRequest(_message.Message):
    __slots__ = ["known_version"]
    KNOWN_VERSION_FIELD_NUMBER: _ClassVar[int]
    known_version: str
    def __init__(self, known_version: _Optional[str] = ...) -> None: ...

class WatchConfigurationResponse(_message.Message):
    __slots__ = ["configuration", "heartbeat", "sent_at", "signing_key"]
    CONFIGURATION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNING_KEY_FIELD_NUMBER: _ClassVar[int]
    configuration: Configuration
    heartbeat: bool
    sent_at: _timestamp_pb2.Timestamp
    signing_key: LocalSigningKey
    def __init__(self, configuration: _Optional[_Union[Configuration, _Mapping]] = ..., heartbeat: bool = ..., sent_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., signing_key: _Optional[_Union[LocalSigningKey, _Mapping]] = ...) -> None: ...

class DecisionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
