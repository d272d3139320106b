"""Broker password hashes as Mosquitto 2 writes them (PBKDF2-HMAC-SHA512).

Both the dynamic-security file (``password``/``salt``/``iterations`` in base64) and the
``password_file`` (``user:$7$iterations$salt$hash``) use the same derivation; checked
against ``mosquitto_ctrl dynsec init`` and ``mosquitto_passwd`` output in the tests.

The iteration count is Mosquitto's own default (101). Our broker secrets are 256-bit
random values (``secrets.token_urlsafe(32)``), which no amount of key stretching makes
harder to guess; stretching would only cost the broker CPU at every reconnect storm.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass

ITERATIONS = 101
SALT_BYTES = 12


@dataclass(frozen=True)
class PasswordHash:
    hash_b64: str
    salt_b64: str
    iterations: int = ITERATIONS

    def password_file_entry(self, username: str) -> str:
        return f"{username}:$7${self.iterations}${self.salt_b64}${self.hash_b64}"


def hash_password(password: str, *, salt: bytes | None = None) -> PasswordHash:
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    return PasswordHash(base64.b64encode(digest).decode(), base64.b64encode(salt).decode())


def new_secret() -> str:
    """A broker password: 256 random bits, URL-safe (it may travel in a URL)."""
    return secrets.token_urlsafe(32)
