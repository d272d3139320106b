"""The roles at work, not only refusing: ``edgewatch simulate --bundle`` publishes the
simulated fleet as a sensor identity (a gateway granted ``site/sensors/#``), which agents
read; a second coordinator replica, an identity of its own, reads the fleet through an
MQTT 5 shared subscription (``--share-group``) and may ack."""

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


def test_a_coordinator_replica_reads_through_a_shared_subscription(
    under_attack: UnderAttack,
) -> None:
    site = under_attack.site
    replica = site.enroll("c3", role="coordinator")
    client = site.attacker(replica)
    assert client.connect() is not None and client.accepted
    shared = client.subscribe("$share/replicas/edgewatch/agents/+/heartbeat")
    topic, _payload = client.messages.get(timeout=15)  # the agents beat every 5 s
    ack = client.publish("edgewatch/agents/pi-thief/ack", b"{}")
    client.close()
    assert not shared.is_failure and topic.endswith("/heartbeat")
    assert not ack.is_failure
