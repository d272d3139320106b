"""The store commands on a PostgreSQL store (``--db postgresql://...``, or ``EDGEWATCH_DB``
as replicas are configured), and the one-line refusal of a SQLite path that is not there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgewatch.coordinator.security.tokens import digest
from edgewatch.coordinator.store.location import open_store
from edgewatch.shared.cli import main
from tests.support.stores import pg_url

__all__ = ["pg_url"]


def test_tokens_report_and_rebuild_work_on_a_postgres_store(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEWATCH_DB", pg_url)  # as a replica's environment has it
    assert main(["tokens", "create", "--scope", "admin", "--name", "ops"]) == 0
    token = capsys.readouterr().out.strip()
    store = open_store(pg_url)
    try:
        found = store.token_by_digest(digest(token))
        assert found is not None and found.scope == "admin"
    finally:
        store.close()
    out = tmp_path / "r.png"
    assert main(["report", "--db", pg_url, "--out", str(out), "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)["panels"].values()) == {0}
    assert main(["aggregates", "rebuild", "--db", pg_url]) == 0
    assert "rebuilt 0 hour(s) of windows from 0 readings" in capsys.readouterr().out


def test_a_sqlite_path_that_is_not_there_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "nope.db")
    assert main(["tokens", "list", "--db", missing]) == 2
    assert capsys.readouterr().err.strip().endswith("no such store")
    assert not (tmp_path / "nope.db").exists()  # never created by a typo
