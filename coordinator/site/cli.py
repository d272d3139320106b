"""``edgewatch site init DIR``: write a secure site (broker config, CA, identities).

edgewatch site init /etc/edgewatch/site --host broker.example.net
mosquitto -c /etc/edgewatch/site/mosquitto.conf
edgewatch coordinator --bundle /etc/edgewatch/site/coordinator.bundle
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgewatch.coordinator.site.init import SiteRequest, init_site
from edgewatch.coordinator.site.layout import SiteLayout
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import ConfigError
from edgewatch.shared.topics import check_agent_id

VERB = "site"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="site_action", required=True, metavar="ACTION")
    init = sub.add_parser("init", help="make a new site in DIR (refuses an existing one)")
    add = init.add_argument
    add("dir", type=Path, metavar="DIR", help="the site directory (created)")
    add("--mqtt-port", type=int, default=8883, metavar="N", help="TLS listener port (8883)")
    add(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="host name or address agents reach the broker by (repeat; the first goes into "
        "bundles; this machine's name, localhost and 127.0.0.1 are always added)",
    )
    add(
        "--auth",
        choices=["dynsec", "files"],
        default="dynsec",
        help="dynsec: Mosquitto's dynamic-security plugin, changed live (default); "
        "files: password and ACL files, for brokers without it",
    )
    add("--mutual-tls", action="store_true", help="clients must also show a certificate")
    add(
        "--db", type=Path, default=None, help="the coordinator's store (default DIR/coordinator.db)"
    )
    add("--coordinator", default="coordinator", metavar="NAME", help="the coordinator's identity")
    add("--topic-prefix", default="edgewatch", metavar="P", help="MQTT topic prefix")
    add("--sensor-prefix", default="site/sensors", metavar="P", help="site sensor topics: P/ID")
    add("--plugin", type=Path, default=None, help="path of mosquitto_dynamic_security.so")


def run(args: argparse.Namespace) -> int:
    if not 0 < args.mqtt_port < 65536:
        return fail(VERB, f"--mqtt-port {args.mqtt_port}: not a port")
    try:
        check_agent_id(args.coordinator)
        site = init_site(
            SiteRequest(
                root=args.dir,
                mqtt_port=args.mqtt_port,
                hosts=tuple(args.host),
                auth=args.auth,
                mutual_tls=args.mutual_tls,
                topic_prefix=args.topic_prefix,
                sensor_prefix=args.sensor_prefix,
                coordinator=args.coordinator,
                db=args.db,
                plugin=args.plugin,
            )
        )
    except ConfigError as exc:
        return fail(VERB, exc)
    except ValueError as exc:
        return fail(VERB, exc)
    layout = SiteLayout(args.dir.resolve())
    print(
        f"site {site.name!r} in {layout.root}: broker {site.broker_url} "
        f"({'dynamic-security' if site.auth == 'dynsec' else 'password/ACL files'}"
        f"{', mutual TLS' if site.mutual_tls else ''})\n"
        f"  start the broker:      mosquitto -c {layout.mosquitto_conf}\n"
        f"  start the coordinator: edgewatch coordinator --bundle {layout.coordinator_bundle}\n"
        f"  enroll an agent:       edgewatch enroll pi-7 --site {layout.root} --out pi-7.bundle\n"
        f"  keep {layout.ca_key.name}, {layout.admin_secret.name} and the bundles secret (0600)."
    )
    return 0
