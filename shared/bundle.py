"""An enrollment bundle: everything one process needs to join a site, in one file.

``edgewatch enroll pi-7 --site DIR --out pi-7.bundle`` writes one; the operator copies
it to the Pi and runs ``edgewatch agent --bundle pi-7.bundle``. ``edgewatch site init``
writes the coordinator's (``DIR/coordinator.bundle``). A bundle holds:

- ``role`` and ``identity``: who this is (an agent's id, a coordinator replica's name);
- ``broker``: ``mqtts://host:port`` (no password in it), ``username``, ``password``
  and the ``client_id`` the broker binds to that username (it refuses any other);
- ``ca_pem``: the site CA that signed the broker's certificate (the broker is verified
  against it, never against the system trust store);
- ``client_cert_pem`` / ``client_key_pem``: the certificate for mutual TLS, when the site
  asks for one;
- ``model_public_key``: the coordinator's Ed25519 model-signing key (base64), pinned at
  enrollment, so a model pushed later is trusted only if the coordinator signed it;
- ``settings``: defaults for the process (an agent's tier and place; the coordinator's
  store path), below anything given on the command line or in the environment.

JSON, mode 0600: it holds a password and maybe a private key. It is read as it is; flags
and ``EDGEWATCH_*`` variables still win over its settings, except the identity itself.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from edgewatch.shared.errors import ConfigError
from edgewatch.shared.private_files import write_private
from edgewatch.shared.tls import TlsOptions

log = logging.getLogger(__name__)
BUNDLE_FORMAT: Literal["edgewatch.bundle/1"] = "edgewatch.bundle/1"
Role = Literal["agent", "sensor", "coordinator", "operator"]


class Bundle(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["edgewatch.bundle/1"] = BUNDLE_FORMAT
    role: Role
    identity: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    site: str = Field(description="the site's name (its CA's common name)")
    broker: str = Field(description="mqtts://host:port, without credentials")
    username: str
    password: SecretStr
    client_id: str
    topic_prefix: str = "edgewatch"
    ca_pem: str = Field(repr=False)
    client_cert_pem: str | None = Field(default=None, repr=False)
    client_key_pem: SecretStr | None = None
    model_public_key: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    issued_at: float

    def write(self, path: Path) -> Path:
        """Write the bundle to ``path`` (0600, atomically)."""
        data = self.model_dump(mode="json")
        data["password"] = self.password.get_secret_value()
        if self.client_key_pem is not None:
            data["client_key_pem"] = self.client_key_pem.get_secret_value()
        return write_private(path, json.dumps(data, indent=2) + "\n")


def read_bundle(path: Path, flag: str = "--bundle") -> Bundle:
    """The bundle in ``path``; one-line errors that name the flag, never a secret."""
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
        raise ConfigError(f"{flag} {path}: cannot read it: {why}") from exc
    try:
        bundle = Bundle.model_validate_json(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "(file)" for e in exc.errors()})
        raise ConfigError(
            f"{flag} {path}: not an edgewatch bundle ({BUNDLE_FORMAT}); bad or missing: "
            f"{', '.join(fields)}"
        ) from None
    _warn_if_exposed(path)
    return bundle


def _warn_if_exposed(path: Path) -> None:
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        log.warning(
            "%s holds a broker password and is readable by others (mode %o): chmod 600 it",
            path,
            mode,
        )


def bundle_tls(
    bundle: Bundle | None, ca: Path | None, cert: Path | None, key: Path | None
) -> TlsOptions:
    """TLS settings: files given on the command line first, else the bundle's."""
    files = TlsOptions.from_files(ca, cert, key)
    if bundle is None:
        return files
    return TlsOptions(
        ca_pem=files.ca_pem or bundle.ca_pem,
        cert_pem=files.cert_pem or bundle.client_cert_pem,
        key_pem=files.key_pem
        or (bundle.client_key_pem.get_secret_value() if bundle.client_key_pem else None),
    )


def check_tls_flags(broker: str, ca: Path | None, cert: Path | None, key: Path | None) -> None:
    """``--ca`` and a client certificate only make sense for an ``mqtts://`` broker."""
    if (ca or cert or key) and not broker.startswith("mqtts://"):
        raise ValueError("--ca, --tls-cert and --tls-key need an mqtts:// broker URL")
    if (cert is None) != (key is None):
        raise ValueError("--tls-cert and --tls-key go together")
