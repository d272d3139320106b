"""Keep secrets out of logs and error messages: URLs (``mqtt://``, ``mqtts://``...) lose
their password.

Anything that may end up in a journal (a start banner, an error message, a pydantic
error) goes through ``redact`` first:

    >>> redact("cannot reach mqtt://pi-7:s3cret@broker.local:1883 (timed out)")
    'cannot reach mqtt://pi-7:***@broker.local:1883 (timed out)'
    >>> redact("token abcdef0123456789 refused", "abcdef0123456789")
    'token *** refused'

The user stays (it tells the operator which account was used); the password becomes
``***``. Known secret values can be passed too: they are replaced wherever they appear,
for the odd message that quotes a value outside a URL.
"""

from __future__ import annotations

import re

MASK = "***"
# scheme://netloc, any scheme (a mistyped http://user:pass@... is a secret all the same);
# the netloc ends at the path, whitespace, a quote (repr() quotes URLs) or "[", which
# only starts an IPv6 host (after the "@") or a template like mqtt://[user:pass@]host.
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/'\"\[]+)")
# Shorter strings are too likely to be ordinary words: masking them would garble text.
_MIN_SECRET = 4


def _mask_netloc(match: re.Match[str]) -> str:
    scheme, netloc = match.group(1), match.group(2)
    # As urlsplit does: the userinfo ends at the last "@" (an unencoded "@" in a
    # password must not leave its tail in the message).
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return match.group(0)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{user}:{MASK}@{host}"


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with URL passwords and every given secret value replaced by ``***``."""
    out = _URL.sub(_mask_netloc, text)
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted({s for s in secrets if s and len(s) >= _MIN_SECRET}, key=len)[::-1]:
        out = out.replace(secret, MASK)
    return out
