"""Start the real edgewatch processes for end-to-end and fault tests.

``Coordinator`` and ``AgentRun`` wrap spawned ``edgewatch coordinator`` / ``agent``
processes with what tests need to look at: the store, the API, the agent's outbox.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewatch.agent.settings import AgentSettings
from edgewatch.agent.sources.simulator import expected_stream
from tests.support.ledger import LedgerReport, check_store, keys_from_batches
from tests.support.procs import Proc, ProcGroup, free_port, wait_until


def protocol_for(kind: str) -> str:
    """The MQTT version to ask of a broker kind: amqtt (embedded) never answers an MQTT 5
    CONNECT; Mosquitto speaks 5."""
    return "3.1.1" if kind == "embedded" else "5"


@dataclass
class Coordinator:
    procs: ProcGroup
    broker_url: str
    protocol: str
    workdir: Path
    port: int = field(default_factory=free_port)
    proc: Proc | None = None
    extra: tuple[str, ...] = ()
    # A PostgreSQL store (replicas): its URL; the API token then comes from a file.
    store_url: str | None = None
    name: str = "coordinator"
    client_id: str = "test-coordinator"
    # Replicas share one model-signing key file (as they must); None: one in workdir.
    model_key_file: Path | None = None

    @property
    def db(self) -> Path:
        return self.workdir / "coordinator.db"

    @property
    def location(self) -> Path | str:
        """What the ledger reads: the SQLite file or the PostgreSQL URL."""
        return self.store_url or self.db

    @property
    def token_file(self) -> Path:
        return self.db.parent / "api-token"

    def start(self, wait: bool = True) -> Coordinator:
        store: tuple[str, ...] = ("--db", str(self.db))
        if self.store_url is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            if not self.token_file.exists():
                self.token_file.write_text("test-token-" + "x" * 24 + "\n")
            store = (
                "--db",
                self.store_url,
                "--api-token-file",
                str(self.token_file),
                "--model-key-file",  # every replica signs models with one key
                str(self.model_key_file or self.workdir / "model-signing.key"),
            )
        self.proc = self.procs.edgewatch(
            "coordinator",
            "--broker",
            self.broker_url,
            *store,
            "--port",
            str(self.port),
            "--mqtt-version",
            self.protocol,
            "--client-id",
            self.client_id,
            *self.extra,
            name=self.name,
        )
        if wait:
            wait_until(self.healthy, 30, message="coordinator never connected to the broker")
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/api/v1/health/ready", timeout=1
            ) as resp:
                # 503 (an HTTPError, so an OSError) until broker and store are both up.
                return bool(json.loads(resp.read()).get("status") == "ready")
        except OSError:
            return False

    def api(self, path: str) -> Any:
        token = (self.db.parent / "api-token").read_text().strip()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def post(self, path: str, body: Any) -> Any:
        token = (self.db.parent / "api-token").read_text().strip()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def stored(self) -> int:
        if self.store_url is not None:
            import psycopg

            with psycopg.connect(self.store_url) as conn:
                row = conn.execute("SELECT count(*) FROM readings").fetchone()
                return int(row[0]) if row else 0
        if not self.db.exists():
            return 0
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
        except sqlite3.OperationalError:
            return 0
        finally:
            conn.close()


@dataclass
class AgentRun:
    procs: ProcGroup
    agent_id: str
    broker_url: str
    protocol: str
    workdir: Path
    count: int
    rate: float = 0.0
    sensors: int = 10
    seed: int = 11
    extra: tuple[str, ...] = ()
    proc: Proc | None = None

    @property
    def data_dir(self) -> Path:
        return self.workdir / self.agent_id

    def start(self) -> AgentRun:
        self.proc = self.procs.edgewatch(
            "agent",
            "--id",
            self.agent_id,
            "--broker",
            self.broker_url,
            "--mqtt-version",
            self.protocol,
            "--data-dir",
            str(self.data_dir),
            "--source",
            "simulate",
            "--sensors",
            str(self.sensors),
            "--seed",
            str(self.seed),
            "--rate",
            str(self.rate),
            "--count",
            str(self.count),
            "--exit-when-drained",
            "--heartbeat-s",
            "1",
            *self.extra,
            name=self.agent_id,
        )
        return self

    def outbox(self) -> dict[str, int]:
        """Rows waiting and the persisted counters, read from the outbox file itself."""
        db = self.data_dir / "outbox.db"
        if not db.exists():
            return {"rows": 0, "next_seq": 0}
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5, isolation_level=None)
        try:
            # One read transaction: the three figures from one commit of the agent's (read
            # one by one, rows could predate the next_seq that ended the wait).
            conn.execute("BEGIN")
            rows = conn.execute("SELECT COALESCE(SUM(n), 0) FROM chunks").fetchone()[0]
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            drops = dict(conn.execute("SELECT reason, readings FROM drops").fetchall())
            conn.execute("COMMIT")
        except sqlite3.OperationalError:
            return {"rows": 0, "next_seq": 0}
        finally:
            conn.close()
        return {
            "rows": int(rows),
            "next_seq": int(meta.get("next_seq", 0)),
            **{f"dropped:{k}": int(v) for k, v in drops.items()},
        }

    def expected_keys(self) -> list[Any]:
        defaults = AgentSettings()
        stream = expected_stream(
            self.seed,
            self.sensors,
            0,
            self.count,
            rate=self.rate,
            anomaly_probability=defaults.anomaly_probability,
            mean_episode_s=defaults.mean_episode_s,
        )
        return keys_from_batches([stream])


def ledger(coordinator: Coordinator, agents: list[AgentRun], dropped: int = 0) -> LedgerReport:
    expected = {a.agent_id: a.expected_keys() for a in agents}
    return check_store(expected, coordinator.location, dropped_reported=dropped)
