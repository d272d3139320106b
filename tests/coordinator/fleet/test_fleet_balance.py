"""coordinator.bench.fleet_balance: every figure for every strategy, and the targets."""

from __future__ import annotations

import argparse
import json

import pytest

from edgewatch.coordinator.bench import fleet_balance
from edgewatch.coordinator.fleet.assignment import strategy_names


def test_figures_for_every_strategy_meet_the_targets() -> None:
    report = fleet_balance.balance_figures(sensors=120, agents=3, seed=1)
    assert set(report["strategies"]) == set(strategy_names())
    for name in fleet_balance.STICKY:
        f = report["strategies"][name]
        assert f["join_moves"] == f["join_moves_optimal"] > 0
        assert f["loss_moves"] == f["loss_moves_optimal"] == f["lost_agent_sensors"] > 0
    rr = report["strategies"]["round_robin"]
    assert rr["join_moves"] > 1.1 * rr["join_moves_optimal"]  # the baseline reshuffles
    assert all(all(met.values()) for met in report["targets"].values())
    assert report == fleet_balance.balance_figures(sensors=120, agents=3, seed=1)


def test_run_prints_json_or_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    fleet_balance.add_arguments(parser)
    assert fleet_balance.run(parser.parse_args(["--sensors", "40", "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sensors"] == 40 and report["agents"] == 3
    ratio = report["strategies"]["consistent_hash"]["max_load_ratio"]
    assert set(ratio) == {"before", "after_join", "after_loss"}
    assert fleet_balance.run(parser.parse_args(["--sensors", "40"])) == 0
    assert "least_loaded" in capsys.readouterr().out


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        fleet_balance.balance_figures(sensors=0)
