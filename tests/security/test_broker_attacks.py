"""Attacks on the broker of a secure site, each refused by Mosquitto itself.

Every refusal is asserted by the broker's own answer (CONNACK, SUBACK or PUBACK reason
code, MQTT 5), and where a forged message would have been stored, by the store: a batch
of readings with a sensor id no one else uses is sent, then a legitimate batch after it
on the same connection, and once that one is stored the forged one is proven absent.
"""

from __future__ import annotations

import secrets

import orjson
import pytest

from edgewatch.shared.schemas import Ack
from tests.security.conftest import UnderAttack
from tests.support.coordinator import batch_dict, make_batch
from tests.support.procs import wait_until
from tests.support.secure_site import NOT_AUTHORIZED, Attacker

BAD_LOGIN = {0x86, 0x87}  # bad user name or password, not authorized


def _batch(agent_id: str, marker: str, n: int = 5) -> bytes:
    batch = make_batch(agent_id, n, epoch=secrets.randbelow(10**9) + 1)
    data = batch_dict(batch)
    data["sensor_id"] = [f"{marker}-{i}" for i in range(n)]
    return orjson.dumps(data)


def _refused(code: object) -> bool:
    return getattr(code, "value", None) == NOT_AUTHORIZED


def _canary(ua: UnderAttack, client: Attacker) -> str:
    """A legitimate batch of the thief's own, on the connection the attack used."""
    marker = "CANARY-" + secrets.token_hex(4)
    assert not client.publish(
        f"edgewatch/agents/{ua.thief.identity}/results", _batch(ua.thief.identity, marker)
    ).is_failure
    ua.site.wait_stored("sensor_id LIKE ?", marker + "%")
    return marker


@pytest.mark.attack("anonymous connect")
def test_anonymous_connect_is_refused(under_attack: UnderAttack) -> None:
    client = under_attack.site.attacker()
    code = client.connect()
    client.close()
    assert code is not None and code.value in BAD_LOGIN, code


@pytest.mark.attack("wrong password for an enrolled agent")
def test_wrong_password_is_refused(under_attack: UnderAttack) -> None:
    client = under_attack.site.attacker(under_attack.a, password="not-" + secrets.token_hex(8))
    code = client.connect()
    client.close()
    assert code is not None and code.value in BAD_LOGIN, code


@pytest.mark.attack("revoked agent reconnecting")
def test_a_revoked_agent_is_cut_off_at_once_and_cannot_return(under_attack: UnderAttack) -> None:
    site = under_attack.site
    doomed = site.enroll("pi-doomed")
    live = site.attacker(doomed)
    assert live.connect() is not None and live.accepted
    from edgewatch.coordinator.site.enrollment import revoke

    assert revoke(site.site, "pi-doomed") == (True, True)
    wait_until(lambda: live.disconnects, 5, message="the revoked agent was not disconnected")
    live.close()
    again = site.attacker(doomed)
    code = again.connect()
    again.close()
    assert "Administrative action" in live.disconnects[0]
    assert code is not None and code.value in BAD_LOGIN, code


@pytest.mark.attack("agent A publishing results as agent B")
def test_an_agent_cannot_publish_as_another(under_attack: UnderAttack) -> None:
    client = under_attack.site.attacker(under_attack.thief)
    assert client.connect() is not None and client.accepted
    marker = "FORGED-" + secrets.token_hex(4)
    answers = [
        client.publish(f"edgewatch/agents/pi-a/{kind}", _batch("pi-a", marker))
        for kind in ("results", "hello", "heartbeat", "status")
    ]
    _canary(under_attack, client)
    client.close()
    assert all(_refused(a) for a in answers), answers
    assert under_attack.site.stored("sensor_id LIKE ?", marker + "%") == 0


@pytest.mark.attack("client-id takeover of the coordinator")
def test_no_one_can_take_the_coordinators_client_id(under_attack: UnderAttack) -> None:
    site = under_attack.site
    coordinator_id = site.coordinator_bundle().client_id
    results = []
    for bundle in (under_attack.thief, under_attack.operator, under_attack.sensor):
        client = site.attacker(bundle, client_id=coordinator_id)
        results.append(client.connect())
        client.close()
    assert all(r is not None and r.value in BAD_LOGIN for r in results), results
    assert site.broker is not None
    # Mosquitto logs a takeover as "already connected, closing old connection".
    assert "closing old connection" not in site.broker.log_text()
    assert site.ready()


@pytest.mark.attack("client-id takeover of another agent")
def test_no_one_can_take_another_agents_client_id(under_attack: UnderAttack) -> None:
    site = under_attack.site
    client = site.attacker(under_attack.thief, client_id=under_attack.a.client_id)
    code = client.connect()
    client.close()
    assert code is not None and code.value in BAD_LOGIN, code
    assert site.broker is not None and "closing old connection" not in site.broker.log_text()
    before = site.stored("agent_id = 'pi-a'")
    site.wait_stored("agent_id = 'pi-a'", at_least=before + 1)  # pi-a streams on


@pytest.mark.attack("subscribing to another agent's topics")
def test_another_agents_topics_cannot_be_read(under_attack: UnderAttack) -> None:
    site = under_attack.site
    client = site.attacker(under_attack.thief)
    assert client.connect() is not None and client.accepted
    filters = [
        "edgewatch/agents/pi-a/ack",
        "edgewatch/agents/pi-a/desired",
        "edgewatch/agents/+/results",
        "edgewatch/agents/+/ack",
        "edgewatch/#",
        "#",
        "$SYS/#",
        "$CONTROL/dynamic-security/#",
    ]
    answers = [client.subscribe(f) for f in filters]
    # While pi-a is acked again (its readings keep being stored), nothing reaches us.
    before = site.stored("agent_id = 'pi-a'")
    site.wait_stored("agent_id = 'pi-a'", at_least=before + 1)
    got = client.received()
    client.close()
    assert all(_refused(a) for a in answers), [str(a) for a in answers]
    assert got == []


@pytest.mark.attack("forging acks, desired state and model pushes")
def test_acks_desired_state_and_models_cannot_be_forged(under_attack: UnderAttack) -> None:
    client = under_attack.site.attacker(under_attack.thief)
    assert client.connect() is not None and client.accepted
    ack = Ack(agent_id="pi-a", epoch=1, first_seq=0, last_seq=10**9, stored=10**9, duplicates=0)
    forged = orjson.dumps(ack.model_dump())
    own = f"edgewatch/agents/{under_attack.thief.identity}"
    topics = [
        ("edgewatch/agents/pi-a/ack", False),
        (f"{own}/ack", False),  # even its own: acks are the coordinator's word
        ("edgewatch/agents/pi-a/desired", True),
        (f"{own}/desired", True),
        ("edgewatch/agents/pi-a/cmd/reload", False),
        ("edgewatch/agents/pi-a/models/industrial", True),
        ("edgewatch/models/industrial", True),
        ("edgewatch/alerts/critical/x", False),
    ]
    answers = [client.publish(t, forged, retain=r) for t, r in topics]
    client.close()
    assert all(_refused(a) for a in answers), [str(a) for a in answers]


@pytest.mark.attack("operator publishing")
def test_the_operator_reads_and_publishes_nothing(under_attack: UnderAttack) -> None:
    site = under_attack.site
    client = site.attacker(under_attack.operator)
    assert client.connect() is not None and client.accepted
    marker = "OPERATOR-" + secrets.token_hex(4)
    answers = [
        client.publish("edgewatch/agents/ops/results", _batch("ops", marker)),
        client.publish("edgewatch/agents/pi-a/results", _batch("pi-a", marker)),
        client.publish("edgewatch/agents/pi-a/ack", b"{}"),
        client.publish("edgewatch/alerts/critical/x", b"{}"),
        client.publish("site/sensors/S-1", b"{}"),
    ]
    reads = client.subscribe("edgewatch/agents/+/heartbeat")
    results = client.subscribe("edgewatch/agents/+/results")
    heard = client.messages.get(timeout=15)  # heartbeats come every 5 s
    client.close()
    assert all(_refused(a) for a in answers), [str(a) for a in answers]
    assert not reads.is_failure and _refused(results)
    assert heard[0].endswith("/heartbeat")
    assert site.stored("sensor_id LIKE ?", marker + "%") == 0


@pytest.mark.attack("coordinator or sensor identity publishing readings as an agent")
def test_coordinator_and_sensor_identities_cannot_publish_readings(
    under_attack: UnderAttack,
) -> None:
    site = under_attack.site
    # A second coordinator replica (the running one's client id is bound and taken).
    replica = site.enroll("c2", role="coordinator")
    marker = "NOTAGENT-" + secrets.token_hex(4)
    answers = []
    for bundle in (replica, under_attack.sensor):
        client = site.attacker(bundle)
        assert client.connect() is not None and client.accepted, bundle.identity
        answers += [
            client.publish(
                f"edgewatch/agents/{bundle.identity}/results", _batch(bundle.identity, marker)
            ),
            client.publish("edgewatch/agents/pi-a/results", _batch("pi-a", marker)),
            client.publish("edgewatch/agents/pi-a/heartbeat", b"{}"),
        ]
        client.close()
    sensor = site.attacker(under_attack.sensor)
    sensor.connect()
    own = sensor.publish("site/sensors/s-1", b'{"ts": 1}')  # its own sensor topic
    other = sensor.publish("site/sensors/S-2", b'{"ts": 1}')
    sensor.close()
    assert all(_refused(a) for a in answers), [str(a) for a in answers]
    assert not own.is_failure and _refused(other)
    assert site.stored("sensor_id LIKE ?", marker + "%") == 0
