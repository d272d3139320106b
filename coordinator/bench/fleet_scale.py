"""``edgewatch bench fleet-scale``: many agents against one coordinator or two replicas,
on SQLite and on PostgreSQL.

For each configuration (store x replicas x agents): a private Mosquitto, one coordinator
process (or two, ``--share-group``, on one PostgreSQL database), and the protocol-level
load generator (``bench.emulated``) emulating N agents, each with its own connection,
one batch of ``--rate`` readings per second, acks honoured, resends after 10 s. After
``--duration-s`` the generators wait for their last acks; then the store is read:

* ``stored_readings_per_s``: readings committed per second over the run;
* ``p50_s`` / ``p99_s``: reading created (``ts``) -> committed (``stored_at``);
* ``lost``: readings acked to their agent but not in the store (must be 0);
  ``undelivered``: readings still unacked when the run ended (the emulated agent gives
  up after 60 s; a real one keeps them in its outbox and resends: not a loss, but a sign
  the coordinator did not keep up); ``duplicates``: keys stored twice;
* ``coordinator_cpu_us_per_reading``: user+system CPU of the coordinator process(es)
  over the run, per stored reading (and the PostgreSQL backends' own, beside it).

SQLite takes one coordinator: replicas need a shared store, so ``sqlite x 2`` is skipped.

Then **failover** (PostgreSQL, two replicas, ``--failover-agents``): a third into the
run the replica holding the fleet duty is SIGKILLed, and in a second run SIGSTOPped
(SIGCONT once the other took over): ``duty_moved_s`` until the other reports the duty
(``/health/ready``), ``stalled_holder_let_go_s`` until the woken one no longer does,
and the ledger (lost, duplicates) of every reading.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from edgewatch.coordinator.bench.brokers import BrokerProcess
from edgewatch.coordinator.bench.emulated import run_generator
from edgewatch.coordinator.bench.procs import edgewatch_argv, spawn, stop, wait_healthy
from edgewatch.coordinator.broker.embedded import free_port
from edgewatch.coordinator.store.location import StoreLocation, open_store
from edgewatch.coordinator.store.records import MAX_STAMPS, ReadingQuery

AGENTS_PER_GENERATOR = 250
TARGETS = {"p99_s_1000_sqlite": 2.0, "postgres_over_sqlite": 0.7, "duty_moved_s": 10.0}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--agents", default="10,100,1000", help="emulated agents per run (list)")
    parser.add_argument("--rate", type=int, default=50, help="readings per batch (one batch/s)")
    parser.add_argument("--duration-s", type=float, default=20.0, help="sending time per run")
    parser.add_argument("--stores", default="sqlite,postgresql", help="stores to run (list)")
    parser.add_argument("--replicas", default="1,2", help="coordinator processes (list)")
    parser.add_argument(
        "--pg-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server where each run creates (and drops) a database of its own",
    )
    parser.add_argument(
        "--failover-agents",
        type=int,
        default=100,
        help="emulated agents of the failover runs (two replicas on PostgreSQL; 0: none)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


@contextmanager
def _pg_database(base: str) -> Iterator[str]:
    import psycopg

    name = f"ew_bench_{secrets.token_hex(4)}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _backend_pids(url: str) -> list[int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _cpu(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            out[pid] = t.user + t.system
        except psutil.Error:
            continue
    return out


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[p] - before.get(p, 0.0) for p in after)


def _store_figures(location: StoreLocation, ledger: dict[str, Any]) -> dict[str, Any]:
    store = open_store(location)
    try:
        stamps = []
        after = None
        while page := store.stamps(ReadingQuery(after=after, limit=MAX_STAMPS)):
            stamps += page
            last = page[-1]
            after = (last.ts, last.agent_id, last.epoch, last.seq)
    finally:
        store.close()
    generated = sum(int(v[1]) for v in ledger.values())
    seen: set[tuple[str, int, int]] = {(s.agent_id, s.epoch, s.seq) for s in stamps}
    ours = {
        k for k in seen if k[0] in ledger and ledger[k[0]][0] == k[1] and k[2] < ledger[k[0]][1]
    }
    # Lost: acked to its agent, not in the store (the promise). Undelivered: still
    # unacked when the run ended (the agent would keep resending it; not a loss).
    lost = sum(
        1
        for agent, (epoch, _, ranges, _) in ledger.items()
        for first, last in ranges
        for seq in range(first, last + 1)
        if (agent, epoch, seq) not in ours
    )
    lat = np.array([s.stored_at - s.ts for s in stamps]) if stamps else np.zeros(1)
    committed = np.array([s.stored_at for s in stamps]) if stamps else np.zeros(1)
    span = float(committed.max() - committed.min()) if len(stamps) > 1 else 0.0
    return {
        "generated": generated,
        "stored": len(stamps),
        "lost": lost,
        "undelivered": generated - len(ours),
        "duplicates": len(stamps) - len(seen),
        "unexpected": len(seen) - len(ours),
        "stored_readings_per_s": round(len(stamps) / span) if span > 0 else None,
        "p50_s": round(float(np.percentile(lat, 50)), 3),
        "p99_s": round(float(np.percentile(lat, 99)), 3),
        "max_s": round(float(lat.max()), 3),
    }


def _generate(
    port: int, agents: int, rate: int, duration_s: float, during: Any = None
) -> dict[str, Any]:
    """Run the generators; ``during()`` (a fault) runs meanwhile, in this process."""
    ids = [f"emu{i:05d}" for i in range(agents)]
    groups = [ids[i : i + AGENTS_PER_GENERATOR] for i in range(0, agents, AGENTS_PER_GENERATOR)]
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=run_generator, args=(port, g, rate, duration_s, 60.0, out))
        for g in groups
    ]
    for p in procs:
        p.start()
    if during is not None:
        during()
    ledgers = [out.get(timeout=duration_s + 180) for _ in procs]
    for p in procs:
        p.join(30)
    merged: dict[str, Any] = {"agents": {}}
    for part in ledgers:
        merged["agents"].update(part["agents"])
        for k in ("batches_sent", "batches_resent", "batches_unacked", "bad_acks"):
            merged[k] = merged.get(k, 0) + part[k]
    return merged


def _one(
    args: argparse.Namespace, work: Path, store: str, replicas: int, agents: int
) -> dict[str, Any]:
    token = secrets.token_urlsafe(24)
    (work / "token").write_text(token)
    with BrokerProcess("mosquitto", work) as broker, _location(store, work, args.pg_url) as loc:
        procs, ports = [], []
        for i in range(replicas):
            port = free_port()
            argv = [
                "coordinator",
                "--broker",
                broker.url,
                "--db",
                str(loc),
                "--port",
                str(port),
                "--mqtt-version",
                "5",
                "--client-id",
                f"bench-scale-{i}",
                "--api-token-file",
                str(work / "token"),
                "--model-key-file",
                str(work / "model-signing.key"),
                "--queue-size",
                "2048",
            ]
            if replicas > 1:
                argv += ["--share-group", "bench"]
            procs.append(spawn(edgewatch_argv(*argv), work / f"coordinator-{i}.log"))
            ports.append(port)
        try:
            for port in ports:
                wait_healthy(port, 60)
            pg_pids = _backend_pids(str(loc)) if store == "postgresql" else []
            before = _cpu([p.pid for p in procs])
            pg_before = _cpu(pg_pids)
            ledger = _generate(broker.port, agents, args.rate, args.duration_s)
            coord_cpu = _cpu_delta(before, _cpu([p.pid for p in procs]))
            pg_cpu = _cpu_delta(pg_before, _cpu(pg_pids)) if pg_pids else None
        finally:
            for proc in procs:
                stop(proc)
        figures = _store_figures(loc, ledger["agents"])
    stored = max(figures["stored"], 1)
    return {
        "store": store,
        "replicas": replicas,
        "agents": agents,
        "offered_readings_per_s": agents * args.rate,
        **figures,
        "batches_resent": ledger["batches_resent"],
        "batches_unacked": ledger["batches_unacked"],
        "coordinator_cpu_us_per_reading": round(coord_cpu / stored * 1e6, 1),
        "postgres_cpu_us_per_reading": None if pg_cpu is None else round(pg_cpu / stored * 1e6, 1),
    }


def _duties(port: int) -> list[str]:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health/ready", timeout=1) as r:
            held: list[str] = json.loads(r.read()).get("duties_held", [])
            return held
    except OSError:
        return []


def _failover(args: argparse.Namespace, work: Path, how: str) -> dict[str, Any]:
    """Two replicas, ``--failover-agents`` emulated agents; after a third of the run the
    holder of the fleet duty is SIGKILLed (or SIGSTOPped until the other took over)."""
    import signal

    token = secrets.token_urlsafe(24)
    (work / "token").write_text(token)
    moved: dict[str, Any] = {}
    with BrokerProcess("mosquitto", work) as broker, _pg_database(args.pg_url) as url:
        procs, ports = [], []
        for i in range(2):
            port = free_port()
            argv = [
                "coordinator",
                "--broker",
                broker.url,
                "--db",
                url,
                "--port",
                str(port),
                "--mqtt-version",
                "5",
                "--client-id",
                f"bench-failover-{i}",
                "--api-token-file",
                str(work / "token"),
                "--model-key-file",
                str(work / "model-signing.key"),
                "--share-group",
                "bench",
            ]
            procs.append(spawn(edgewatch_argv(*argv), work / f"coordinator-{i}.log"))
            ports.append(port)

        def fault() -> None:
            time.sleep(args.duration_s / 3)
            holder = next(i for i in range(2) if "fleet" in _duties(ports[i]))
            other = 1 - holder
            started = time.monotonic()
            if how == "sigkill":
                procs[holder].kill()
            else:
                procs[holder].send_signal(signal.SIGSTOP)
            while "fleet" not in _duties(ports[other]):
                if time.monotonic() - started > 60:
                    break
                time.sleep(0.05)
            moved["duty_moved_s"] = round(time.monotonic() - started, 2)
            if how == "sigstop":
                procs[holder].send_signal(signal.SIGCONT)
                resumed = time.monotonic()
                while "fleet" in _duties(ports[holder]) and time.monotonic() - resumed < 30:
                    time.sleep(0.05)
                moved["stalled_holder_let_go_s"] = round(time.monotonic() - resumed, 2)

        try:
            for port in ports:
                wait_healthy(port, 60)
            ledger = _generate(broker.port, args.failover_agents, args.rate, args.duration_s, fault)
        finally:
            for proc in procs:
                stop(proc)
        figures = _store_figures(url, ledger["agents"])
    return {
        "fault": how,
        "agents": args.failover_agents,
        **moved,
        "lost": figures["lost"],
        "duplicates": figures["duplicates"],
        "undelivered": figures["undelivered"],
        "stored": figures["stored"],
        "batches_resent": ledger["batches_resent"],
        "p99_s": figures["p99_s"],
    }


@contextmanager
def _location(store: str, work: Path, pg_url: str) -> Iterator[StoreLocation]:
    if store == "sqlite":
        yield work / "coordinator.db"
        return
    with _pg_database(pg_url) as url:
        yield url


def run(args: argparse.Namespace) -> int:
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edgewatch-fleet-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    runs: list[dict[str, Any]] = []
    for store in [s.strip() for s in args.stores.split(",") if s.strip()]:
        for replicas in _ints(args.replicas):
            if store == "sqlite" and replicas > 1:
                continue  # replicas need a shared store
            for agents in _ints(args.agents):
                sub = work / f"{store}-{replicas}-{agents}"
                sub.mkdir(exist_ok=True)
                say(f"{store}, {replicas} coordinator(s), {agents} emulated agents ...")
                started = time.monotonic()
                result = _one(args, sub, store, replicas, agents)
                result["wall_s"] = round(time.monotonic() - started, 1)
                runs.append(result)
                say(json.dumps(result))
    failover = []
    if args.failover_agents and "postgresql" in args.stores:
        for how in ("sigkill", "sigstop"):
            sub = work / f"failover-{how}"
            sub.mkdir(exist_ok=True)
            say(f"failover: two replicas, {args.failover_agents} agents, holder {how} ...")
            failover.append(_failover(args, sub, how))
            say(json.dumps(failover[-1]))
    report = {
        "bench": "fleet-scale",
        "rate_per_agent": args.rate,
        "duration_s": args.duration_s,
        "runs": runs,
        "failover": failover,
        "postgres_over_sqlite": _ratios(runs),
        "targets": TARGETS,
        "workdir": str(work),
    }
    print(json.dumps(report, indent=None if args.json else 2))
    clean = all(r["lost"] == 0 and r["duplicates"] == 0 for r in runs + failover)
    return 0 if clean else 1


def _ratios(runs: list[dict[str, Any]]) -> dict[str, float]:
    """PostgreSQL (one coordinator) over SQLite stored readings/s, per agent count."""
    out = {}
    for r in runs:
        if r["store"] != "postgresql" or r["replicas"] != 1:
            continue
        base = next(
            (x for x in runs if x["store"] == "sqlite" and x["agents"] == r["agents"]), None
        )
        if base and base["stored_readings_per_s"] and r["stored_readings_per_s"]:
            out[str(r["agents"])] = round(
                r["stored_readings_per_s"] / base["stored_readings_per_s"], 2
            )
    return out
