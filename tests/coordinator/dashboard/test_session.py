"""coordinator.dashboard.session: cookies that cannot be forged, outlive nothing, leak nothing."""

from __future__ import annotations

import pytest

from edgewatch.coordinator.dashboard.session import Identity, SessionCodec, new_session_key
from edgewatch.shared.clock import ManualClock

ADMIN = Identity("api-token:abc", "admin")


def codec(clock: ManualClock, key: bytes | None = None, max_age_s: int = 3600) -> SessionCodec:
    return SessionCodec(key or bytes(range(32)), max_age_s=max_age_s, clock=clock)


def test_a_cookie_reads_back_as_the_session_it_was_issued_for() -> None:
    clock = ManualClock()
    value, session = codec(clock).issue(ADMIN)
    assert codec(clock).read(value) == session
    assert session.identity == ADMIN and len(session.csrf) >= 32


def test_each_session_has_its_own_csrf_secret() -> None:
    clock = ManualClock()
    first = codec(clock).issue(ADMIN)[1]
    second = codec(clock).issue(ADMIN)[1]
    assert first.csrf != second.csrf
    assert first.csrf_ok(first.csrf) and not first.csrf_ok(second.csrf)
    assert not first.csrf_ok(None) and not first.csrf_ok("")


def test_it_expires_on_the_clock_it_was_given() -> None:
    clock = ManualClock()
    value, _ = codec(clock, max_age_s=60).issue(ADMIN)
    clock.advance(59.9)
    assert codec(clock, max_age_s=60).read(value) is not None
    clock.advance(0.2)
    assert codec(clock, max_age_s=60).read(value) is None


def test_tampered_foreign_and_garbage_cookies_are_no_session() -> None:
    clock = ManualClock()
    value, _ = codec(clock).issue(ADMIN)
    payload, signature = value.rsplit(".", 1)
    # The same payload with "read" swapped for "admin" or any other edit: the signature fails.
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    assert codec(clock).read(f"{flipped}.{signature}") is None
    assert codec(clock, key=new_session_key()).read(value) is None  # another coordinator's
    for junk in ("", "x", "a.b", value + "x", "e30.e30"):
        assert codec(clock).read(junk) is None


def test_the_cookie_holds_no_token_only_an_identity() -> None:
    clock = ManualClock()
    value, _ = codec(clock).issue(Identity("api-token:0f71", "read"))
    assert "secret-token-value" not in value


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        SessionCodec(b"short")
