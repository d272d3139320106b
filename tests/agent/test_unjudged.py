"""An agent that cannot judge a reading says so: CSV columns no rule covers, no model."""

from __future__ import annotations

from pathlib import Path

from tests.support.procs import ProcGroup, free_port


def test_replaying_columns_no_rule_covers_warns_once(procs: ProcGroup, tmp_path: Path) -> None:
    csv = tmp_path / "cpu.csv"
    csv.write_text("timestamp,value\n" + "".join(f"{1.7e9 + i},{i % 7}\n" for i in range(400)))
    agent = procs.edgewatch(
        "agent",
        "--id",
        "u1",
        "--broker",
        f"mqtt://127.0.0.1:{free_port()}",  # none: the agent scores offline
        "--data-dir",
        str(tmp_path / "u1"),
        "--source",
        "csv",
        "--csv",
        str(csv),
        "--rate",
        "0",
        "--batch-max",
        "50",
        name="u1",
    )
    line = agent.wait_for_log(r"no rule covers any metric of sensor type 'csv' \(value\)", 20)
    assert "edgewatch train" in line.string[line.start() : line.start() + 400]
    assert agent.terminate() == 0
    # Once, not once per batch: 400 readings went through in 8 batches.
    assert agent.log_text().count("no rule covers any metric") == 1
