"""``edgewatch broker``: the embedded broker on its own."""

from __future__ import annotations

import argparse
import os
import threading

from edgewatch.coordinator.broker.embedded import DEFAULT_EMBEDDED_PORT, EmbeddedBroker


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=os.environ.get("EDGEWATCH_BROKER_HOST", "127.0.0.1"),
        help="address to listen on [env EDGEWATCH_BROKER_HOST; default 127.0.0.1]",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("EDGEWATCH_BROKER_PORT", DEFAULT_EMBEDDED_PORT)),
        help=f"port (0: any free) [env EDGEWATCH_BROKER_PORT; default {DEFAULT_EMBEDDED_PORT}]",
    )


def run(args: argparse.Namespace) -> int:
    broker = EmbeddedBroker(args.host, args.port)
    broker.start()
    print(f"edgewatch embedded broker on {broker.url} (MQTT 3.1.1); Ctrl-C to stop", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        broker.stop()
    return 0
