"""The model registry and verdict figures on PostgreSQL under replicas writing at once.

Two stores on one database stand for two replicas: a (type, version) registered by both
is taken by exactly one (the other is refused); verdict counts upserted by both, each in
its own order, all land (added, never overwritten) and neither transaction fails; a
reading re-scored by both keeps one cloud verdict.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from edgewatch.coordinator.errors import WriteRefused
from edgewatch.coordinator.store import Store
from edgewatch.coordinator.store.location import open_store
from edgewatch.coordinator.store.model_records import (
    RANK_BINS,
    CloudVerdict,
    ModelRecord,
    VerdictCounts,
)
from edgewatch.shared.signing import SignKey
from tests.support.models import new_model
from tests.support.stores import pg_url

__all__ = ["pg_url"]  # the fixture: a fresh database on the local server

KEY = SignKey.generate()


@pytest.fixture
def replicas(pg_url: str) -> Iterator[tuple[Store, Store]]:
    first, second = open_store(pg_url), open_store(pg_url)
    yield first, second
    first.close()
    second.close()


def _together(*calls: Callable[[], object]) -> list[object]:
    """Run ``calls`` in threads released at once; what each returned or raised."""
    gate = threading.Barrier(len(calls))
    outcomes: list[object] = [None] * len(calls)

    def run(i: int, call: Callable[[], object]) -> None:
        gate.wait()
        try:
            outcomes[i] = call()
        except Exception as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_a_version_registered_by_two_replicas_at_once_is_taken_once(
    replicas: tuple[Store, Store],
) -> None:
    a, b = replicas
    for version in range(1, 6):
        model = new_model(KEY, "pump", version)
        outcomes = _together(partial(a.add_model, model), partial(b.add_model, model))
        kept = [o for o in outcomes if isinstance(o, ModelRecord)]
        refused = [o for o in outcomes if isinstance(o, WriteRefused)]
        assert (len(kept), len(refused)) == (1, 1), outcomes
    assert [m.version for m in a.models("pump")] == [1, 2, 3, 4, 5]
    assert b.latest_model_version("pump") == 5


def test_counts_from_two_replicas_all_land_and_a_verdict_is_kept_once(
    replicas: tuple[Store, Store],
) -> None:
    keys = [(f"a{i}", t) for i in range(8) for t in ("pump", "fan")]
    rounds = 30

    def rescore(store: Store, seed: int) -> None:
        shuffle = random.Random(seed)
        for n in range(rounds):
            counts = [
                VerdictCounts(agent, stype, "rules", 2, 1, 2, 1, 1, (1,) * RANK_BINS, 100.0)
                for agent, stype in keys
            ]
            shuffle.shuffle(counts)  # each replica upserts the same rows in its own order
            # Verdicts of readings of its own: the two transactions overlap on counts only.
            verdicts = [CloudVerdict("a0", seed, n, 0.5, True, "onnx", "sample", 1.0)]
            store.apply_rescoring(verdicts, counts, f"rescoring-{seed}", n + 1, 0.0)

    a, b = replicas
    assert _together(partial(rescore, a, 1), partial(rescore, b, 2)) == [None, None]
    window = a.verdict_window(0.0)
    assert len(window) == len(keys)
    assert {(c.readings, c.agreed, c.ranks[RANK_BINS - 1]) for c in window} == {
        (2 * 2 * rounds, 2 * rounds, 2 * rounds)
    }
    assert {c.readings for c in b.verdict_totals()} == {2 * 2 * rounds}
    # The same readings re-scored by both: each verdict is kept once, the first one.
    same = [("a0", 3, n) for n in range(rounds)]

    def verdicts(store: Store, scorer: str) -> None:
        mine = [CloudVerdict(*k, None, False, scorer, "no_model", 2.0) for k in same]
        store.apply_rescoring(mine, [], "rescoring-3", 1, 0.0)

    assert _together(partial(verdicts, a, "x"), partial(verdicts, b, "y")) == [None, None]
    found = b.cloud_verdicts(same)
    assert len(found) == rounds and len({v.scorer for v in found.values()}) == 1
