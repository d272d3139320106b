"""agent.models.verify: every way a pushed package is refused, by its stable reason."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from edgewatch.agent.models.keys import TrustedKeys
from edgewatch.agent.models.verify import Refused, check_package
from edgewatch.shared.desired import ModelOrder
from edgewatch.shared.signing import SignKey
from tests.support.models import model_bytes, package, sign

KEY = SignKey.generate()
DATA = model_bytes("industrial", 5)
SHA = hashlib.sha256(DATA).hexdigest()
ORDER = ModelOrder(version=5, sha256=SHA)


def keys() -> TrustedKeys:
    return TrustedKeys([KEY.public])


def check(payload: bytes, *, order: ModelOrder = ORDER, trusted: TrustedKeys | None = None) -> str:
    with pytest.raises(Refused) as err:
        check_package(payload, sensor_type="industrial", order=order, keys=trusted or keys())
    return err.value.reason


def test_a_good_package_gives_its_bytes_and_signature() -> None:
    signature = sign(KEY, "industrial", 5, DATA)
    data, sig = check_package(
        package(DATA, "industrial", 5, signature),
        sensor_type="industrial",
        order=ORDER,
        keys=keys(),
    )
    assert data == DATA and sig == signature


def test_tampered_bytes_are_a_hash_mismatch() -> None:
    signature = sign(KEY, "industrial", 5, DATA)
    forged = DATA[:-1] + bytes([DATA[-1] ^ 1])
    # The package claims the original digest, the bytes hash otherwise.
    assert check(package(forged, "industrial", 5, signature, sha256=SHA)) == "hash_mismatch"


def test_another_file_than_ordered_is_a_hash_mismatch() -> None:
    other = model_bytes("industrial", 6)
    signature = sign(KEY, "industrial", 5, other)
    assert check(package(other, "industrial", 5, signature)) == "hash_mismatch"


def test_a_bad_signature_is_refused() -> None:
    signature = sign(KEY, "industrial", 5, DATA)
    # Signed as tier "medium"; the forger claims "high" (the statement no longer matches).
    assert check(package(DATA, "industrial", 5, signature.model_copy(update={"tier": "high"}))) == (
        "bad_signature"
    )
    flipped = base64.b64encode(bytes(64)).decode()
    bad = signature.model_copy(update={"signature": flipped})
    assert check(package(DATA, "industrial", 5, bad)) == "bad_signature"


def test_unsigned_wrong_key_and_no_pinned_key() -> None:
    assert check(package(DATA, "industrial", 5, None)) == "unsigned"
    stranger = sign(SignKey.generate(), "industrial", 5, DATA)
    assert check(package(DATA, "industrial", 5, stranger)) == "wrong_key"
    with pytest.raises(Refused) as err:
        check_package(
            package(DATA, "industrial", 5, stranger),
            sensor_type="industrial",
            order=ORDER,
            keys=None,
        )
    assert err.value.reason == "no_key_pinned"


def test_another_type_or_version_is_refused_before_anything_else() -> None:
    signature = sign(KEY, "medical", 5, DATA)
    assert check(package(DATA, "medical", 5, signature)) == "wrong_type"
    assert (
        check(package(DATA, "industrial", 6, sign(KEY, "industrial", 6, DATA))) == "wrong_version"
    )


@pytest.mark.parametrize(
    "payload",
    [b"", b"\xff\xfe", b"{}", b'{"schema_version": 1}', b"[1, 2]", b'{"schema_version": 9}'],
)
def test_malformed_payloads(payload: bytes) -> None:
    assert check(payload) == "malformed"


def test_data_that_is_not_base64_is_malformed() -> None:
    signature = sign(KEY, "industrial", 5, DATA)
    assert check(package(DATA, "industrial", 5, signature, data="!!!!not base64")) == "malformed"


def test_an_oversized_package_is_too_large() -> None:
    assert check(b"{" + b" " * (12 * 1024 * 1024) + b"}") == "too_large"


def test_keys_follow_only_an_endorsed_chain(tmp_path: Path) -> None:
    from edgewatch.shared.modelpack import EndorsedKey, KeyChain
    from edgewatch.shared.signing import encode_signature, key_statement

    pinned = tmp_path / "pub.pem"
    pinned.write_text(KEY.public.pem)
    trusted = TrustedKeys.load(pinned, tmp_path)
    new = SignKey.generate()
    good = encode_signature(KEY.sign(key_statement(new.public.key_id, new.public.pem)))
    chain = KeyChain(
        keys=[
            EndorsedKey(key_id=KEY.public.key_id, public_key=KEY.public.pem, created_at=1.8e9),
            EndorsedKey(
                key_id=new.public.key_id,
                public_key=new.public.pem,
                created_at=1.8e9,
                endorsed_by=KEY.public.key_id,
                endorsement=good,
            ),
        ]
    )
    assert trusted.follow(chain) == [new.public.key_id]
    assert trusted.current.key_id == new.public.key_id
    # A new push must be signed by the new key; the old one is refused from now on.
    assert check(
        package(DATA, "industrial", 5, sign(KEY, "industrial", 5, DATA)), trusted=trusted
    ) == ("wrong_key")
    # The move survives a restart; pinning another key starts afresh.
    assert TrustedKeys.load(pinned, tmp_path).current.key_id == new.public.key_id
    other = tmp_path / "other.pem"
    other.write_text(new.public.pem)
    assert TrustedKeys.load(other, tmp_path).current.key_id == new.public.key_id


def test_a_forged_endorsement_moves_nothing(tmp_path: Path) -> None:
    from edgewatch.shared.errors import ModelError
    from edgewatch.shared.modelpack import EndorsedKey, KeyChain
    from edgewatch.shared.signing import encode_signature, key_statement

    trusted = TrustedKeys([KEY.public])
    mallory = SignKey.generate()
    forged = encode_signature(
        mallory.sign(key_statement(mallory.public.key_id, mallory.public.pem))
    )
    chain = KeyChain(
        keys=[
            EndorsedKey(key_id=KEY.public.key_id, public_key=KEY.public.pem, created_at=1.8e9),
            EndorsedKey(
                key_id=mallory.public.key_id,
                public_key=mallory.public.pem,
                created_at=1.8e9,
                endorsed_by=KEY.public.key_id,
                endorsement=forged,
            ),
        ]
    )
    with pytest.raises(ModelError):
        trusted.follow(chain)
    assert trusted.current.key_id == KEY.public.key_id
