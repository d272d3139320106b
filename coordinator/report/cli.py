"""``edgewatch report --db PATH --out report.png [--since T] [--until T] [--json]``.

``--since``/``--until`` take epoch seconds, an ISO 8601 time or an age (``2h``, ``7d``);
the period defaults to the last 24 hours. The store is only read (a running coordinator
may keep writing). ``--json`` prints, instead of progress lines, one JSON object with
what each panel holds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from edgewatch.coordinator.aggregates.cli import parse_since
from edgewatch.coordinator.store.location import location_arg, open_existing
from edgewatch.shared.cli import fail
from edgewatch.shared.errors import EdgewatchError
from edgewatch.shared.progress import Progress

DAY_S = 86_400.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=location_arg,
        required=True,
        help="the coordinator's store: a SQLite file or a postgresql:// URL",
    )
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    parser.add_argument("--since", help="epoch seconds, ISO time or age (default 24h)")
    parser.add_argument("--until", help="epoch seconds, ISO time or age (default now)")
    parser.add_argument("--json", action="store_true", help="print what each panel holds")


def run(args: argparse.Namespace) -> int:
    from edgewatch.coordinator.report.data import first_window, gather
    from edgewatch.coordinator.report.figure import render

    now = time.time()
    try:
        until = parse_since(args.until, now) or now
        since = parse_since(args.since, now)
        if since is not None and since >= until:
            return fail("report", "--since must be before --until")
        store = open_existing(args.db)
        with Progress("report", total=2, quiet=args.json) as progress:
            try:
                if since is None:  # the last day, or less if the store holds less
                    since = first_window(store, until - DAY_S, until) or until - DAY_S
                data = gather(store, since, until, now)
            finally:
                store.close()
            progress.advance(1, "read the aggregates")
            render(data, args.out)
            progress.advance(1, f"wrote {args.out}")
    except (EdgewatchError, OSError) as exc:
        return fail("report", exc)
    took = round(time.time() - now, 2)
    if args.json:
        print(json.dumps({"out": str(args.out), "seconds": took, "panels": data.panel_sizes()}))
    else:
        print(f"wrote {args.out} ({took} s)", file=sys.stdout)
    return 0
