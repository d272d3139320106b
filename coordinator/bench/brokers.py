"""Brokers for benchmarks: a private Mosquitto or the embedded broker, as child processes.

Benchmarks start their own broker on a free port (never a system one) so that its
queue limits are known and nothing else shares it. The broker runs in its own process
in both cases, so the pipeline and the transport-only baseline pay the same costs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.shared.errors import ConfigError


class BrokerProcess:
    """``kind`` is ``mosquitto`` or ``embedded``; use as a context manager."""

    def __init__(
        self, kind: str, workdir: Path, *, max_queued: int = 100_000, tls: bool = False
    ) -> None:
        if kind not in ("mosquitto", "embedded"):
            raise ConfigError(f"broker must be mosquitto or embedded, not {kind!r}")
        if tls and kind != "mosquitto":
            raise ConfigError("--tls needs --broker mosquitto (the embedded broker has no TLS)")
        self.kind = kind
        self.workdir = workdir
        self.port = free_port()
        # A second listener with TLS (a throw-away CA's certificate for 127.0.0.1), so a
        # benchmark compares both through the very same broker process.
        self.tls_port = free_port() if tls else None
        self.max_queued = max_queued
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def tls_url(self) -> str:
        return f"mqtts://127.0.0.1:{self.tls_port}"

    @property
    def ca_file(self) -> Path:
        return self.workdir / "bench-ca.crt"

    def _tls_listener(self) -> str:
        from edgewatch.coordinator.site import pki
        from edgewatch.shared.private_files import write_private

        ca = pki.make_ca("bench")
        server = pki.make_server_cert(ca, ["127.0.0.1", "localhost"])
        self.ca_file.write_text(ca.cert_pem)
        (self.workdir / "bench-server.crt").write_text(server.cert_pem)
        write_private(self.workdir / "bench-server.key", server.key_pem)
        return (
            f"listener {self.tls_port} 127.0.0.1\n"
            f"certfile {self.workdir / 'bench-server.crt'}\n"
            f"keyfile {self.workdir / 'bench-server.key'}\n"
            f"cafile {self.ca_file}\ntls_version tlsv1.2\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def protocol(self) -> str:
        return "3.1.1" if self.kind == "embedded" else "5"

    def _argv(self) -> list[str]:
        if self.kind == "embedded":
            return [
                sys.executable,
                "-m",
                "edgewatch.shared.cli",
                "--log-level",
                "WARNING",
                "broker",
                "--port",
                str(self.port),
            ]
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise ConfigError(
                "mosquitto not found: apt-get install mosquitto (or --broker embedded)"
            )
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            # Benchmarks measure our pipeline, not the broker's default queue cap of 1000.
            f"max_queued_messages {self.max_queued}\nmax_inflight_messages 0\n"
            f"log_dest file {self.workdir / 'mosquitto.log'}\n"
            + (self._tls_listener() if self.tls_port else "")
            # As root Mosquitto drops to the `mosquitto` user, who cannot read our
            # private temporary directory (its log, the TLS files).
            + ("user root\n" if os.geteuid() == 0 else "")
        )
        return [binary, "-c", str(conf)]

    def __enter__(self) -> BrokerProcess:
        log = open(self.workdir / f"broker-{self.kind}.out", "wb")
        self.proc = subprocess.Popen(self._argv(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise ConfigError(f"{self.kind} broker did not start on port {self.port}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
