"""shared.signing: what a model signature covers, and key endorsements."""

from __future__ import annotations

import pytest

from edgewatch.shared.errors import ModelError
from edgewatch.shared.signing import (
    SignKey,
    VerifyKey,
    decode_signature,
    key_statement,
    model_statement,
)

SHA = "ab" * 32


def test_a_signature_covers_type_tier_version_and_digest() -> None:
    key = SignKey.generate()
    statement = model_statement("pump", "high", 7, SHA)
    signature = key.sign(statement)
    assert key.public.verify(statement, signature)
    for other in (
        model_statement("fan", "high", 7, SHA),
        model_statement("pump", "medium", 7, SHA),
        model_statement("pump", "high", 8, SHA),
        model_statement("pump", "high", 7, "cd" * 32),
    ):
        assert not key.public.verify(other, signature)
    assert not SignKey.generate().public.verify(statement, signature)


def test_keys_round_trip_through_pem_and_keep_their_id() -> None:
    key = SignKey.generate()
    again = SignKey.from_pem(key.private_pem())
    public = VerifyKey.from_pem(key.public.pem)
    assert again.public.key_id == public.key_id == key.public.key_id
    assert len(key.public.key_id) == 16
    assert public.verify(b"x", again.sign(b"x"))


def test_an_endorsement_is_the_old_key_signing_the_new_one() -> None:
    old, new = SignKey.generate(), SignKey.generate()
    statement = key_statement(new.public.key_id, new.public.pem)
    assert old.public.verify(statement, old.sign(statement))
    assert not old.public.verify(
        key_statement(old.public.key_id, old.public.pem), old.sign(statement)
    )


@pytest.mark.parametrize(
    "pem",
    [b"not a key", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", b"x" * 5000],
)
def test_bad_public_keys_are_model_errors(pem: bytes) -> None:
    with pytest.raises(ModelError):
        VerifyKey.from_pem(pem)


def test_a_private_key_error_never_quotes_the_file() -> None:
    with pytest.raises(ModelError) as err:
        SignKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nSECRETSTUFF\n-----END PRIVATE KEY-----\n")
    assert "SECRETSTUFF" not in str(err.value)


def test_signatures_must_be_64_bytes_of_base64() -> None:
    with pytest.raises(ModelError):
        decode_signature("!!!")
    with pytest.raises(ModelError):
        decode_signature("AAAA")
