"""The model lifecycle's API and admin verbs against a real coordinator (uvicorn, Mosquitto):
train on demand, the registry and its files, rollouts, keys, re-scoring figures, and
``edgewatch train --api``, ``edgewatch rollout``, ``edgewatch keys`` as real commands."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgewatch.shared.signing import VerifyKey, decode_signature, model_statement
from tests.support.coordinator import ApiServer, coord_mosquitto, make_settings, serve
from tests.support.models import stored_readings
from tests.support.procs import REPO_ROOT, child_env

__all__ = ["coord_mosquitto"]


@pytest.fixture
def api(tmp_path: Path, coord_mosquitto: str) -> Iterator[ApiServer]:
    settings = make_settings(tmp_path, coord_mosquitto, mqtt_version="auto", train_min_rows=200)
    yield from serve(settings)


def edgewatch(api: ApiServer, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgewatch.shared.cli", "--log-level", "WARNING", *argv],
        cwd=REPO_ROOT,
        env=child_env({"EDGEWATCH_API_TOKEN": api.token}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_train_register_fetch_and_verify(api: ApiServer) -> None:
    with api.client() as http:
        short = http.post("/api/v1/models/train", json={"sensor_type": "medical"})
        assert short.status_code == 422
        assert "too little data to train 'medical'" in short.json()["detail"]
        api.service.store.write(stored_readings("a1", 3000))
        made = http.post("/api/v1/models/train", json={"sensor_type": "medical", "tier": "medium"})
        assert made.status_code == 200, made.text
        m = made.json()
        assert (m["status"], m["tier"], m["training"]["trees"]) == ("candidate", "medium", 50)
        assert m["scorer"] == f"onnx:medical@{m['version']}"
        assert http.get("/api/v1/models").json()[0]["id"] == m["id"]
        assert http.get("/api/v1/models?status=active").json() == []
        assert http.get("/api/v1/models/999").status_code == 404
        file = http.get(f"/api/v1/models/{m['id']}/file")
        assert hashlib.sha256(file.content).hexdigest() == m["sha256"] == file.headers["x-sha256"]
        sig = http.get(f"/api/v1/models/{m['id']}/signature").json()
        pem = http.get("/api/v1/keys/current").text
        statement = model_statement("medical", "medium", m["version"], m["sha256"])
        assert VerifyKey.from_pem(pem).verify(statement, decode_signature(sig["signature"]))
        bad = http.post("/api/v1/models/train", json={"sensor_type": "medical", "tier": "low"})
        assert bad.status_code == 422


def test_rollouts_keys_and_rescoring_over_http(api: ApiServer) -> None:
    api.service.store.write(stored_readings("a1", 3000))
    with api.client() as http:
        m = http.post("/api/v1/models/train", json={"sensor_type": "medical"}).json()
        refused = http.post("/api/v1/rollouts", json={"model_id": m["id"], "canary": "10%"})
        assert refused.status_code == 422 and "no online agent" in refused.json()["detail"]
        assert http.post("/api/v1/rollouts", json={"model_id": 999}).status_code == 404
        done = http.post("/api/v1/rollouts", json={"model_id": m["id"], "canary": "100%"})
        assert done.status_code == 200 and done.json()["state"] == "promoted"
        again = http.post("/api/v1/rollouts", json={"model_id": m["id"], "canary": "100%"})
        assert again.status_code == 409
        listed = http.get("/api/v1/rollouts").json()
        assert [e["kind"] for e in listed[0]["events"]] == ["started", "promoted"]
        events = http.get("/api/v1/rollouts/events?after=0").json()
        assert events["last_id"] == events["events"][-1]["id"]
        rolled = http.post(f"/api/v1/rollouts/{listed[0]['id']}/rollback", json={"reason": "x"})
        assert rolled.json()["state"] == "rolled_back"
        assert http.get(f"/api/v1/models/{m['id']}").json()["status"] == "rolled_back"
        chain = http.post("/api/v1/keys/rotate").json()["keys"]
        assert len(chain) == 2 and chain[1]["endorsed_by"] == chain[0]["key_id"]
        assert http.get(f"/api/v1/models/{m['id']}").json()["key_id"] == chain[1]["key_id"]
        rescoring = http.get("/api/v1/rescoring").json()
        assert rescoring["sample"] == 0.05 and "split" in rescoring
        assert "scoring" in http.get("/api/v1/stats").json()


def test_the_admin_verbs(api: ApiServer, tmp_path: Path) -> None:
    api.service.store.write(stored_readings("a1", 3000))
    trained = edgewatch(
        api, "train", "--type", "medical", "--api", api.base_url, "--out", str(tmp_path / "m.onnx")
    )
    assert trained.returncode == 0, trained.stderr
    assert "registered model 1 " in trained.stdout and "training medical" in trained.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 10_000
    assert "edgewatch rollout start 1 --canary 10%" in trained.stdout
    csv_only = edgewatch(api, "train", "--type", "medical", "--window", "5", "--api", api.base_url)
    assert csv_only.returncode == 2 and "--window: for --csv only" in csv_only.stderr
    short = edgewatch(api, "train", "--type", "turbine", "--api", api.base_url)
    assert short.returncode == 2 and "too little data to train 'turbine'" in short.stderr
    started = edgewatch(api, "rollout", "start", "1", "--all", "--api", api.base_url)
    assert (
        started.returncode == 0 and "rollout 1: model 1 (medical/medium) promoted" in started.stdout
    )
    listed = edgewatch(api, "rollout", "list", "--api", api.base_url)
    assert "promoted    canary 100%: every agent at once" in listed.stdout
    rolled = edgewatch(api, "rollout", "rollback", "1", "--reason", "test", "--api", api.base_url)
    assert "rolled_back test" in rolled.stdout
    missing = edgewatch(api, "rollout", "promote", "7", "--api", api.base_url)
    assert missing.returncode == 2 and "HTTP 404: rollout '7' not found" in missing.stderr
    pem = edgewatch(api, "keys", "show", "--api", api.base_url).stdout
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    local = edgewatch(api, "keys", "show", "--db", str(api.settings.db))
    assert local.returncode == 0 and local.stdout == pem
