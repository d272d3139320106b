"""A logging filter that masks API tokens wherever a log line would carry one.

uvicorn's access log writes every request's path with its query string; a client that
put its token in the URL (refused, but logged) would leave it in the journal. The filter
masks ``ewt_...`` tokens, the configured ``--api-token`` and the values of query
parameters named like credentials, in the message and its arguments.
"""

from __future__ import annotations

import logging
import re

from edgewatch.coordinator.security.tokens import TOKEN_RE
from edgewatch.shared.redact import MASK, redact

_PARAM = re.compile(
    r"(?i)([?&](?:token|access_token|api_token|apikey|api_key|bearer|auth|password)=)[^&\s\"']*"
)


class TokenMask(logging.Filter):
    def __init__(self, *secrets: str) -> None:
        super().__init__()
        self._secrets = {s for s in secrets if s}

    def add(self, secret: str) -> None:
        if secret:
            self._secrets.add(secret)

    def mask(self, text: str) -> str:
        text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
        text = TOKEN_RE.sub(MASK, text)
        return redact(text, *self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_MASK = TokenMask()


def install(secret: str) -> TokenMask:
    """Mask tokens (and ``secret``) in uvicorn's access and error logs, at the source.

    One filter per process, however many apps it builds (tests, the demo): each adds its
    configured token to it.
    """
    _MASK.add(secret)
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _MASK not in logger.filters:
            logger.addFilter(_MASK)
    return _MASK
