"""``edgewatch eval skab|nab PATH [--json]``: our ONNX model vs the published baseline.

``skab``: the SKAB outlier protocol with the fixed recipe, the leave-one-group-out
validation that chose it, per-file figures and the published IsolationForest baseline.
``nab``: NAB's protocol and scoring with our recipe, its leave-one-category-out
validation and NAB's windowed Gaussian baseline. Progress goes to stderr; ``--json``
prints one object on stdout. ``--no-validate`` scores the fixed recipe only (faster).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgewatch.shared.errors import ConfigError

DATASETS = ("skab", "nab")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", choices=DATASETS, help="protocol to run")
    parser.add_argument("path", type=Path, help="data folder (every labelled file under it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="skip the hyperparameter validation; score the fixed recipe only",
    )
    parser.add_argument(
        "--windows",
        type=Path,
        metavar="FILE",
        help="nab: windows file (default PATH/combined_windows.json; keys relative to PATH)",
    )
    parser.add_argument("--train-rows", type=int, default=400, help="skab: rows to train on")
    parser.add_argument(
        "--detector",
        choices=["iforest", "pca", "autoencoder", "knn"],
        help="score this detector instead of the fixed recipe's (with its other settings)",
    )


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    if not args.path.is_dir():
        print(f"edgewatch eval: {args.path} is not a folder", file=sys.stderr)
        return 2
    try:
        result = _skab(args) if args.dataset == "skab" else _nab(args)
    except ConfigError as exc:
        print(f"edgewatch eval: {exc}", file=sys.stderr)
        return 2
    if result is None:
        print(f"edgewatch eval: no labelled CSV under {args.path}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else _table(result))
    return 0


def _skab(args: argparse.Namespace) -> dict[str, Any] | None:
    from edgewatch.coordinator.evaluation.recipe import SKAB_CANDIDATES, SKAB_RECIPE
    from edgewatch.coordinator.evaluation.skab import EvalConfig, evaluate

    recipe = replace(SKAB_RECIPE, detector=args.detector) if args.detector else SKAB_RECIPE
    config = EvalConfig(train_rows=args.train_rows, recipe=recipe)
    candidates = None if args.no_validate else SKAB_CANDIDATES
    report = evaluate(args.path, config, progress=_progress, candidates=candidates)
    return report.to_dict() if report.files else None


def _nab(args: argparse.Namespace) -> dict[str, Any]:
    from edgewatch.coordinator.evaluation.nab import evaluate
    from edgewatch.coordinator.evaluation.recipe import NAB_CANDIDATES, NAB_RECIPE

    recipe = replace(NAB_RECIPE, detector=args.detector) if args.detector else NAB_RECIPE
    candidates = None if args.no_validate else NAB_CANDIDATES
    return evaluate(
        args.path, windows=args.windows, recipe=recipe, candidates=candidates, progress=_progress
    )


def _table(result: dict[str, Any]) -> str:
    if result["dataset"] == "skab":
        lines = [f"SKAB: {result['files']} files, {result['test_rows']} test rows"]
        lines.append(f"{'':10} {'F1':>6} {'FAR':>7} {'MAR':>7}")
        for name in ("ours", "baseline"):
            f = result[name]
            lines.append(f"{name:10} {f['f1']:6.3f} {f['far']:7.2%} {f['mar']:7.2%}")
        if result["validation"]:
            v = result["validation"]["held_out_pooled"]
            lines.append(f"{'by group':10} {v['f1']:6.3f} {v['far']:7.2%} {v['mar']:7.2%}")
            files = result["validation"]["leave_one_file_out"]
            if files:
                f = files["held_out_pooled"]
                lines.append(f"{'by file':10} {f['f1']:6.3f} {f['far']:7.2%} {f['mar']:7.2%}")
        lines.append("published: baseline F1 0.29 (FAR 2.56 %, MAR 82.89 %), best F1 0.78")
        return "\n".join(lines)
    lines = [f"NAB: {result['files']} files, {result['windows']} windows"]
    lines.append(f"{'':10} {'standard':>9} {'low_FP':>8} {'low_FN':>8}")
    for name in ("ours", "baseline"):
        r = result[name]
        scores = [r[p]["score"] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")]
        lines.append(f"{name:10} " + " ".join(f"{s:8.2f}" for s in scores))
    if result["validation"]:
        v = result["validation"]["held_out_pooled"]
        lines.append(f"{'validated':10} {v['standard']:8.2f}")
    return "\n".join(lines)
