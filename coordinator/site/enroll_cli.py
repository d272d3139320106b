"""``edgewatch enroll ID --site DIR --out FILE``: one identity, one bundle file.

Run on the coordinator's host. The bundle is all the enrolled process needs:
``edgewatch agent --bundle FILE`` (agents), ``edgewatch coordinator --bundle FILE``
(another coordinator replica), ``edgewatch simulate --bundle FILE`` (a sensor identity).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgewatch.coordinator.site.enrollment import EnrollRequest, Site, enroll
from edgewatch.coordinator.site.identity import BrokerAuthError
from edgewatch.coordinator.site.roles import ROLES
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError, EdgewatchError

VERB = "enroll"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("identity", metavar="AGENT_ID", help="the agent id (or the name of another identity)")
    add("--site", type=Path, required=True, metavar="DIR", help="the site (edgewatch site init)")
    add("--out", type=Path, required=True, metavar="FILE", help="bundle to write (0600)")
    add(
        "--role",
        choices=ROLES,
        default="agent",
        help="agent (default), sensor, coordinator, operator",
    )
    add("--tier", choices=["low", "medium", "high"], default=None, help="the agent's tier")
    add("--location", default=None, metavar="LAT,LON", help="the agent's place, e.g. 52.5,13.4")
    add(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC",
        help="sensor role: a topic it may publish (repeat; default SENSOR_PREFIX/ID)",
    )
    add("--db", type=Path, default=None, help="the coordinator's store (default: the site's)")


def _location(text: str | None) -> tuple[float | None, float | None]:
    if text is None:
        return None, None
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ConfigError(f"--location {text}: want LAT,LON in degrees, e.g. 52.52,13.40") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"--location {text}: latitude -90..90, longitude -180..180")
    return lat, lon


def run(args: argparse.Namespace) -> int:
    try:
        lat, lon = _location(args.location)
        if args.role != "agent" and (args.tier or args.location):
            raise ConfigError("--tier and --location are for agents")
        if args.topic and args.role != "sensor":
            raise ConfigError("--topic is for the sensor role")
        site = Site.open(args.site, args.db)
        bundle = enroll(
            site,
            EnrollRequest(
                identity=args.identity,
                role=args.role,
                tier=args.tier,
                latitude=lat,
                longitude=lon,
                sensor_topics=tuple(args.topic),
            ),
            args.out,
        )
    except BrokerAuthError as exc:
        return fail(VERB, f"the broker refused: {exc}", 1)
    except EdgewatchError as exc:
        return fail(VERB, exc)
    live = (
        "live"
        if site.config.auth == "dynsec"
        else "broker files updated; it applies them once reloaded (SIGHUP)"
    )
    use = {
        "agent": f"edgewatch agent --bundle {args.out.name}",
        "coordinator": f"edgewatch coordinator --bundle {args.out.name}",
        "sensor": f"edgewatch simulate --bundle {args.out.name} ...",
        "operator": "mosquitto_sub (docs/security.md shows how)",
    }[bundle.role]
    print(
        f"enrolled {bundle.role} {bundle.identity} at {bundle.broker} ({live}); "
        f"bundle {args.out} (0600, holds its password): copy it over and run: {use}"
    )
    return 0
