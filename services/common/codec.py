"""Temporal payloads encrypted with AES-GCM (the `cryptography` library): the Temporal server,
its database, the UI and `temporal workflow show` see only ciphertext; our clients and workers,
and the codec server for authorised SREs, decrypt.

Keys have ids: every payload names the key that encrypted it, new payloads use the active
one, and older keys stay in the key file for as long as histories written with them are kept
(rotation: add a key, make it active, keep the old ones). A payload without our encoding is
passed through, so histories from before encryption still replay.

Keys come from a JSON file (`{"active": "<id>", "keys": {"<id>": "<base64 of 32 bytes>"}}`,
`COMPLAINTS_PAYLOAD_KEYS_FILE`), never from the repository; `make run` makes one under `.data/`.
"""

import base64
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


@dataclass(frozen=True)
class PayloadKeys:
    active: str
    keys: dict[str, bytes]

    @classmethod
    def load(cls, path: Path) -> "PayloadKeys":
        raw = json.loads(path.read_text(encoding="utf-8"))
        keys = {key_id: base64.b64decode(value) for key_id, value in raw["keys"].items()}
        if raw["active"] not in keys or any(len(k) != 32 for k in keys.values()):
            raise ValueError(f"{path}: the active key must be one of the keys, each 32 bytes (AES-256)")
        return cls(raw["active"], keys)

    @staticmethod
    def create(path: Path) -> None:
        """A new key file with one key (local systems; production keeps its file in a secret store)."""
        key_id = f"k{secrets.token_hex(4)}"
        body = {"active": key_id, "keys": {key_id: base64.b64encode(AESGCM.generate_key(256)).decode()}}
        path.write_text(json.dumps(body) + "\n")
        path.chmod(0o600)


class EncryptionCodec(PayloadCodec):
    def __init__(self, keys: PayloadKeys):
        self.keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self.keys.active]
        encoded = []
        for payload in payloads:
            nonce = os.urandom(12)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), None)
            encoded.append(
                Payload(metadata={"encoding": ENCODING, KEY_ID: self.keys.active.encode()}, data=nonce + sealed)
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding", b"") != ENCODING:
                decoded.append(payload)  # written before encryption: as it is
                continue
            key_id = payload.metadata[KEY_ID].decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise ValueError(f"payload encrypted with key '{key_id}', which is not in the key file")
            decoded.append(Payload.FromString(cipher.decrypt(payload.data[:12], payload.data[12:], None)))
        return decoded


def with_encryption(converter: DataConverter, keys_file: Path | None) -> DataConverter:
    """The converter with the codec when a key file is set (every client and worker of a system
    must agree: all with the same file, or none)."""
    if keys_file is None:
        return converter
    return replace(converter, payload_codec=EncryptionCodec(PayloadKeys.load(keys_file)))
