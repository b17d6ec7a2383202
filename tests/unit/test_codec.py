"""Payload encryption: only ciphertext leaves the process, keys rotate, older plaintext passes."""

import base64
import json

import pytest
from temporalio.api.common.v1 import Payload

from services.common.codec import ENCODING, EncryptionCodec, PayloadKeys

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"phone": "13812345678"}')


def keys_file(tmp_path, active: str, **keys: bytes):
    path = tmp_path / f"{active}.json"
    path.write_text(json.dumps({"active": active, "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()}}))
    return PayloadKeys.load(path)


async def test_payloads_are_sealed_and_opened_and_keys_rotate(tmp_path):
    old, new = b"o" * 32, b"n" * 32
    before = EncryptionCodec(keys_file(tmp_path, "k1", k1=old))
    (sealed,) = await before.encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and b"13812345678" not in sealed.data
    assert (await before.encode([PLAIN]))[0].data != sealed.data  # a fresh nonce every time

    rotated = EncryptionCodec(keys_file(tmp_path, "k2", k1=old, k2=new))
    (resealed,) = await rotated.encode([PLAIN])
    assert resealed.metadata["encryption-key-id"] == b"k2"
    assert await rotated.decode([sealed, resealed, PLAIN]) == [PLAIN, PLAIN, PLAIN]  # old key, new key, clear

    forgotten = EncryptionCodec(keys_file(tmp_path, "k3", k3=b"x" * 32))
    with pytest.raises(ValueError, match="k1"):
        await forgotten.decode([sealed])


def test_a_key_file_must_name_its_active_key_and_hold_256_bit_keys(tmp_path):
    with pytest.raises(ValueError):
        keys_file(tmp_path, "missing", k1=b"o" * 32)
    with pytest.raises(ValueError):
        keys_file(tmp_path, "short", short=b"o" * 16)
