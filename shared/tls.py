"""TLS to the broker: which CA to trust, and the client certificate for mutual TLS.

``mqtts://`` always verifies the broker: its certificate must chain to ``ca_pem`` (the
site's private CA, from ``--ca FILE`` or an enrollment bundle) or, without one, to the
system trust store, and must name the host in the broker URL. There is no switch to
turn verification off: a link that does not know whom it talks to hands the agent's
password to whoever answers.

The PEM texts are held in memory (a bundle carries them inline). Python's ``ssl`` loads
a client key only from a file, so ``context()`` writes certificate and key to a private
temporary file (0600, removed at once) for the moment it takes to load them.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from edgewatch.shared.errors import ConfigError


@dataclass(frozen=True)
class TlsOptions:
    """What a TLS link trusts and presents; all PEM text, none of it logged."""

    ca_pem: str | None = field(default=None, repr=False)
    cert_pem: str | None = field(default=None, repr=False)
    key_pem: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.cert_pem is None) != (self.key_pem is None):
            raise ConfigError("a client certificate needs its key and a key its certificate")

    @classmethod
    def from_files(
        cls, ca: Path | None = None, cert: Path | None = None, key: Path | None = None
    ) -> TlsOptions:
        """Read ``--ca``, ``--tls-cert`` and ``--tls-key`` (errors name the file)."""
        return cls(
            ca_pem=read_pem(ca, "--ca") if ca else None,
            cert_pem=read_pem(cert, "--tls-cert") if cert else None,
            key_pem=read_pem(key, "--tls-key") if key else None,
        )

    @property
    def mutual(self) -> bool:
        return self.cert_pem is not None

    def context(self) -> ssl.SSLContext:
        """A client context: TLS 1.2+, the broker verified (chain and host name)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.sslsocket_class = _ClosingSSLSocket
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            if self.ca_pem is not None:
                ctx.load_verify_locations(cadata=self.ca_pem)
            else:
                ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
        except ssl.SSLError as exc:
            raise ConfigError(f"the CA certificate cannot be used: {exc.reason or exc}") from exc
        if self.cert_pem is not None and self.key_pem is not None:
            _load_client_pair(ctx, self.cert_pem, self.key_pem)
        return ctx


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when its handshake fails.

    paho wraps the socket and shakes hands itself; when the handshake fails (a broker
    with a certificate we do not trust) it raises without closing the socket, and a link
    that retries for days would leak one descriptor per attempt.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except OSError:
            self.close()
            raise


def _load_client_pair(ctx: ssl.SSLContext, cert_pem: str, key_pem: str) -> None:
    fd, name = tempfile.mkstemp(prefix="edgewatch-tls-", suffix=".pem")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(cert_pem.strip() + "\n" + key_pem.strip() + "\n")
        ctx.load_cert_chain(name)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError("the client certificate or its key cannot be used") from exc
    finally:
        os.unlink(name)


def read_pem(path: Path, flag: str) -> str:
    """The PEM text in ``path``, or a one-line error naming ``flag``."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM text"
        raise ConfigError(f"{flag} {path}: cannot read it: {why}") from exc
    if "-----BEGIN " not in text:
        raise ConfigError(f"{flag} {path}: not a PEM file")
    return text
