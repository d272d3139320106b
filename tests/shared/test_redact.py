"""redact(): URL passwords and known secret values never reach a log line."""

from __future__ import annotations

import pytest

from edgewatch.shared.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mqtt://pi-7:s3cret@broker:1883", "mqtt://pi-7:***@broker:1883"),
        ("mqtts://pi-7:s3cret@broker", "mqtts://pi-7:***@broker"),
        # repr() in an error message: the quote ends the URL, not the password.
        ("got 'mqtt://u:pw@h:x'", "got 'mqtt://u:***@h:x'"),
        # An unencoded "@" in the password: nothing of it may be left behind.
        ("mqtt://u:p@ss@h:1883", "mqtt://u:***@h:1883"),
        ("mqtt://u:p%40ss@h", "mqtt://u:***@h"),
        ("mqtt://u:@h", "mqtt://u:***@h"),
        # Any scheme: a mistyped http:// URL carries the same secret.
        ("http://u:pw@h/path", "http://u:***@h/path"),
        ("mqtt://u:pw@[::1]:1883", "mqtt://u:***@[::1]:1883"),
    ],
)
def test_the_password_goes_the_user_stays(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "mqtt://pi-7@broker:1883",
        "mqtt://broker:1883",
        "embedded:1883",
        "mqtt://[user:pass@]host:port",  # the usage template in our own messages
        "no url here: a:b@c",
    ],
)
def test_text_without_a_password_is_unchanged(text: str) -> None:
    assert redact(text) == text


def test_every_url_in_a_line_is_redacted() -> None:
    line = "from mqtt://a:one@h1:1 to mqtts://b:two@h2:2, then mqtt://c@h3"
    assert redact(line) == "from mqtt://a:***@h1:1 to mqtts://b:***@h2:2, then mqtt://c@h3"


def test_known_secret_values_are_masked_wherever_they_appear() -> None:
    token = "tok-0123456789abcdef"
    assert redact(f"token {token} refused (input_value='{token}')", token, None) == (
        "token *** refused (input_value='***')"
    )
    # Longest first: a secret containing another is masked whole, not in pieces.
    assert redact("abcdefgh", "abcd", "abcdefgh") == "***"
    # Very short values are not masked: they would garble ordinary words.
    assert redact("a bad word", "bad") == "a bad word"
