"""Data for ``bench rollout``: a store filled as ingest fills it, and the hot swap's ledger."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgewatch.agent.encoder import encode_batch
from edgewatch.agent.scorers.factory import default_rules_scorer
from edgewatch.agent.sources.simulator import expected_stream
from edgewatch.coordinator.models.registry import ModelRegistry, TrainingSettings
from edgewatch.coordinator.models.signing import Keyring
from edgewatch.coordinator.models.store_data import DataSettings
from edgewatch.coordinator.store import ReadingQuery, SqliteStore, WriteSet
from edgewatch.shared import wire

BATCH = 500


def fill_store(
    work: Path, rows: int, types: Sequence[str]
) -> tuple[dict[str, float], dict[str, int]]:
    """Store ``rows`` simulated readings (48 sensors, rules verdicts, four agents), then time
    ``ModelRegistry.train(type, "high")`` per type; returns seconds and rows trained on."""
    work.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(work / "train.db")
    try:
        scorer = default_rules_scorer()
        per_agent = rows // 4
        now = time.time()
        for n in range(4):
            stream = expected_stream(n + 1, 48, 0, per_agent)
            stream.ts[:] = now - 3600 + np.arange(per_agent) * (3000 / per_agent)
            for start in range(0, per_agent, BATCH):
                part = stream.take(np.arange(start, min(per_agent, start + BATCH)))
                enc = encode_batch(
                    part, scorer.score(part), agent_id=f"f{n}", epoch=1, first_seq=start
                )
                store.write(WriteSet(batches=[wire.decode_results(enc.payload)]))
        registry = ModelRegistry(
            store,
            Keyring.open(store, work / "model-signing.key"),
            TrainingSettings(data=DataSettings(min_rows=500)),
        )
        seconds, used = {}, {}
        for t in types:
            t0 = time.perf_counter()
            made = registry.train(t, "high")
            seconds[t] = round(time.perf_counter() - t0, 2)
            used[t] = made.training.rows
        return seconds, used
    finally:
        store.close()


def swap_figures(db: Path, agent_id: str, count: int, names: Sequence[str]) -> dict[str, int]:
    """What the store holds of ``agent_id``'s ``count`` readings across model swaps.

    ``swap_lost``: seqs never stored; ``swap_dup``: stored copies beyond one;
    ``swap_misattributed``: readings of the swapped type judged by a version older than
    one that already judged an earlier reading (``names``: the versions, oldest first),
    or by anything but a model.
    """
    store = SqliteStore(db)
    try:
        seqs: list[int] = []
        swapped: list[tuple[int, str]] = []
        after = None
        while page := store.readings(ReadingQuery(agent_id=agent_id, after=after, limit=10_000)):
            for r in page:
                seqs.append(r.seq)
                if r.sensor_type == "medical":
                    swapped.append((r.seq, r.scorer))
            last = page[-1]
            after = (last.ts, last.agent_id, last.epoch, last.seq)
    finally:
        store.close()
    distinct = len(set(seqs))
    wrong, newest = 0, -1
    for _, scorer in sorted(swapped):
        rank = names.index(scorer) if scorer in names else -1
        # A version no swap ordered, or one older than a version already seen: wrong.
        wrong += rank < 0 or rank < newest
        newest = max(newest, rank)
    used = sorted({s for _, s in swapped}, key=lambda s: names.index(s) if s in names else -1)
    return {
        "swap_readings": len(seqs),
        "swap_lost": count - distinct,
        "swap_dup": len(seqs) - distinct,
        "swap_misattributed": wrong,
        "swap_versions_seen": len(used),
    }


def memory_parts(pid: int) -> dict[str, float]:
    """Where a process's resident memory is (MB), from ``/proc/PID/smaps`` (Linux):
    onnxruntime's library, other libraries, the C heap, anonymous maps (Python's objects,
    numpy's buffers). Empty where smaps is not available."""
    parts: dict[str, float] = {}
    name = ""
    try:
        with open(f"/proc/{pid}/smaps", encoding="utf-8") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) >= 5 and "-" in fields[0] and ":" not in fields[0]:
                    path = fields[5] if len(fields) > 5 else "[anon]"
                    name = _part(path)
                elif fields and fields[0] == "Rss:":
                    parts[name] = parts.get(name, 0.0) + int(fields[1]) / 1024
    except OSError:
        return {}
    return {k: round(v, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}


def _part(path: str) -> str:
    for key in ("onnxruntime", "cryptography", "numpy", "pydantic_core", "libpython"):
        if key in path:
            return key
    if path in ("[heap]", "[anon]"):
        return path.strip("[]")
    return "other libraries"
