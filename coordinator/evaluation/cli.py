"""``edgewatch eval skab PATH [--json]``: our ONNX model vs the published baseline on SKAB."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgewatch.coordinator.evaluation.skab import EvalConfig, Report, evaluate

DEFAULTS = EvalConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=["skab"], help="protocol to run (skab)")
    parser.add_argument("path", type=Path, help="folder; every labelled CSV under it is used")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--trees", type=int, default=DEFAULTS.n_trees, help="trees (50, 100)")
    parser.add_argument("--window", type=int, default=DEFAULTS.window, help="rolling window")
    parser.add_argument(
        "--stats", nargs="*", default=list(DEFAULTS.stats), help="rolling stats: mean std delta"
    )
    parser.add_argument(
        "--smooth", type=int, default=DEFAULTS.smooth, help="score smoothing (readings)"
    )
    parser.add_argument(
        "--quantile", type=float, default=DEFAULTS.quantile, help="threshold quantile"
    )
    parser.add_argument("--margin", type=float, default=DEFAULTS.margin, help="threshold margin")
    parser.add_argument("--train-rows", type=int, default=DEFAULTS.train_rows)


def _table(report: Report) -> str:
    lines = [f"SKAB: {report.files} files, {report.test_rows} test rows, {report.seconds:.1f} s"]
    lines.append(f"{'':10} {'F1':>6} {'FAR':>7} {'MAR':>7}")
    for name, conf in (("ours", report.ours), ("baseline", report.baseline)):
        f = conf.figures()
        lines.append(f"{name:10} {f['f1']:6.3f} {f['far']:7.2%} {f['mar']:7.2%}")
    lines.append("published: baseline F1 0.29 (FAR 2.56 %, MAR 82.89 %), best F1 0.78")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        print(f"edgewatch eval: {args.path} is not a folder", file=sys.stderr)
        return 2
    config = EvalConfig(
        train_rows=args.train_rows,
        n_trees=args.trees,
        window=args.window,
        stats=tuple(args.stats),
        smooth=args.smooth,
        quantile=args.quantile,
        margin=args.margin,
    )
    report = evaluate(args.path, config, progress=lambda m: print(m, file=sys.stderr))
    if report.files == 0:
        print(f"edgewatch eval: no labelled CSV under {args.path}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else _table(report))
    return 0
