"""The sensor role at work: ``edgewatch simulate --bundle`` publishes the simulated fleet
as a sensor identity (a gateway granted ``site/sensors/#``), which agents read; an
identity with the default grant (its own topic) publishes nothing else."""

from __future__ import annotations

import subprocess

import orjson

from tests.security.conftest import UnderAttack
from tests.support.procs import edgewatch_argv


def test_simulate_publishes_with_a_sensor_bundle(under_attack: UnderAttack) -> None:
    site = under_attack.site
    site.enroll("gateway", role="sensor", sensor_topics=("site/sensors/#",))
    reader = site.attacker(under_attack.thief)  # an agent: it may read the sensor topics
    assert reader.connect() is not None and reader.accepted
    assert not reader.subscribe("site/sensors/#").is_failure
    done = subprocess.run(
        edgewatch_argv(
            "simulate",
            "--bundle",
            str(site.bundle_path("gateway")),
            "--sensors",
            "3",
            "--rate",
            "50",
            "--count-per-sensor",
            "4",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    got = reader.received(quiet_s=1.0)
    reader.close()
    assert done.returncode == 0, done.stderr
    assert "mqtts://gateway@127.0.0.1" in done.stdout
    topics = {t for t, _ in got}
    assert {"site/sensors/SENSOR_000", "site/sensors/SENSOR_002"} <= topics
    assert all(orjson.loads(p) for _t, p in got)


def test_simulate_refuses_a_bundle_of_another_role(under_attack: UnderAttack) -> None:
    done = subprocess.run(
        edgewatch_argv(
            "simulate",
            "--bundle",
            str(under_attack.site.bundle_path("pi-thief")),
            "--sensors",
            "1",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "is the agent pi-thief's, not a sensor's" in done.stderr
