"""``edgewatch report``: the figure from a real run's store, every panel with data."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from edgewatch.coordinator.store import SqliteStore
from edgewatch.shared.cli import main
from tests.support.edgewatch import Coordinator
from tests.support.mosquitto import MosquittoProcess
from tests.support.procs import ProcGroup, wait_until

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == PNG
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.mark.mosquitto
def test_a_real_runs_report_has_data_in_every_panel(
    procs: ProcGroup,
    mosquitto: MosquittoProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    coord = Coordinator(
        procs, mosquitto.url, "5", tmp_path / "coord",
        extra=("--simulated-fleet", "12", "--sim-rate-hz", "5"),
    ).start()  # fmt: skip
    agents = {
        a: procs.edgewatch(
            "agent",
            "--id",
            a,
            "--broker",
            mosquitto.url,
            "--mqtt-version",
            "5",
            "--data-dir",
            str(tmp_path / a),
            "--source",
            "assigned",
            "--heartbeat-s",
            "1",
            name=a,
        )
        for a in ("r1", "r2")
    }
    wait_until(lambda: coord.api("stats")["anomalies_stored"] >= 20, 60, message="no anomalies")
    agents["r2"].kill()  # fleet availability 50 %: an alert for the timeline
    wait_until(lambda: coord.api("alerts")["alerts"] != [], 30, message="no alert raised")
    assert coord.proc is not None
    coord.proc.terminate()
    out = tmp_path / "report.png"
    assert (
        main(["report", "--db", str(coord.db), "--out", str(out), "--since", "1h", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert {k for k, n in result["panels"].items() if n == 0} == set()
    assert png_size(out) == (1600, 1600)


def test_an_empty_store_draws_empty_panels_that_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty.db"
    SqliteStore(db).close()
    out = tmp_path / "r.png"
    assert main(["report", "--db", str(db), "--out", str(out), "--json"]) == 0
    panels = json.loads(capsys.readouterr().out)["panels"]
    assert set(panels.values()) == {0}
    assert png_size(out) == (1600, 1600)


def test_bad_ranges_and_missing_stores_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = str(tmp_path / "r.png")
    assert main(["report", "--db", str(tmp_path / "none.db"), "--out", out]) == 2
    assert "no such store" in capsys.readouterr().err
    db = tmp_path / "s.db"
    SqliteStore(db).close()
    assert main(["report", "--db", str(db), "--out", out, "--since", "1h", "--until", "2h"]) == 2
    assert "--since must be before --until" in capsys.readouterr().err
    assert main(["report", "--db", str(db), "--out", out, "--since", "yesterday"]) == 2
    assert "--since" in capsys.readouterr().err
