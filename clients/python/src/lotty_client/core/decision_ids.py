"""Local decision ids (docs/decision-ids.md#local-decisions), signed in this
process with the key the configuration stream delivers:

    d2.<key id>.<base64url(payload)>.<base64url(tag)>

payload = UTF-8 JSON [flagKey, subjectId, experimentId or "", variantKey or
"", configVersion, issuedAt (Unix seconds)]; tag = the first 16 bytes of
HMAC-SHA256(key, "d2." + key id + "." + base64url(payload)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Callable, Optional

from ._js import is_number, stringify, utf8

MAX_DECISION_ID_LENGTH = 2048
_TAG_BYTES = 16
_TAG_CHARS = 22
_KEY_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_SAFE_INTEGER = 2**53 - 1


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def check_config_version(config_version) -> int:
    if (
        not is_number(config_version)
        or config_version != config_version
        or config_version != int(config_version)
        or not 0 <= config_version <= _MAX_SAFE_INTEGER
    ):
        raise ValueError(f"configVersion must be an integer >= 0, got {config_version!r}")
    return int(config_version)


class LocalDecisionSigner:
    """Signs d2 ids with the 32-byte key of API key `key_id`."""

    def __init__(self, key_id: str, secret: bytes, clock: Callable[[], float] = time.time):
        if not isinstance(key_id, str) or _KEY_ID.match(key_id) is None:
            raise ValueError("key_id must be an API key id (a UUID)")
        if len(secret) != 32:
            raise ValueError("the local signing key must be 32 bytes")
        self.key_id = key_id
        self._secret = bytes(secret)
        self._clock = clock
        self._prefix = f"d2.{key_id}."

    def sign(
        self,
        flag_key: str,
        subject_id: str,
        experiment_id: Optional[str],
        variant_key: Optional[str],
        config_version: int,
    ) -> str:
        if not isinstance(flag_key, str) or not isinstance(subject_id, str):
            raise TypeError("flag_key and subject_id must be strings")
        version = check_config_version(config_version)
        issued_at = int(self._clock() // 1)
        payload = base64url(
            utf8(
                stringify(
                    [
                        flag_key,
                        subject_id,
                        experiment_id or "",
                        variant_key or "",
                        version,
                        issued_at,
                    ]
                )
            )
        )
        signed = self._prefix + payload
        if len(signed) + 1 + _TAG_CHARS > MAX_DECISION_ID_LENGTH:
            raise ValueError("decision id would be over the length limit")
        tag = hmac.new(self._secret, signed.encode("ascii"), hashlib.sha256).digest()[:_TAG_BYTES]
        return signed + "." + base64url(tag)
