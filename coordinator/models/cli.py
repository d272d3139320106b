"""``edgewatch train --csv FILE --out FILE.onnx``: a model file without writing Python.

The file is read by CSV replay's own reader (``shared.csvfile``), so the model is fitted
on exactly the rows, and under exactly the metric names, that an agent replaying the
file sends; ``trainer.train_table`` fits it and ``export.export_model`` writes it (temp
file, then rename: an agent starting meanwhile sees the old file or the new one, never
half of one). Agents load every ``DATA_DIR/models/*.onnx`` at start
(``agent.scorers.factory``). Bad input is one line on stderr and exit code 2.

Training data come from one member of a required group: ``--csv FILE`` (here, into
``--out``), or ``--api URL``: a running coordinator trains the type from its store and
registers the model (``coordinator.models.remote``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import sys
import time
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from edgewatch.coordinator.models.detectors import DETECTORS
from edgewatch.coordinator.models.trainer import (
    MIN_ROWS,
    RECIPE_SMOOTH,
    RECIPE_THRESHOLD,
    TIER_TREES,
    AdaptiveConfig,
    ThresholdPolicy,
    TrainConfig,
    TrainedModel,
    train_table,
)
from edgewatch.shared.csvfile import CsvTable, read_csv
from edgewatch.shared.errors import ConfigError, ModelError
from edgewatch.shared.features import FeatureSpec
from edgewatch.shared.modelfile import read_model_bytes
from edgewatch.shared.progress import Progress
from edgewatch.shared.schemas import SensorType

PROG = "edgewatch train"
DEFAULT_TYPE = "csv"  # CSV replay's default --sensor-type
INSTALL = "copy it to DATA_DIR/models/ of each agent; agents load every *.onnx there at start"
_SENSOR_TYPE = TypeAdapter(SensorType)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("training data")
    source = data.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--csv", type=Path, metavar="FILE", help="a CSV file, read as CSV replay reads it"
    )
    source.add_argument(
        "--api",
        metavar="URL",
        help="ask a running coordinator to train from its store (e.g. http://127.0.0.1:8000)",
    )
    remote = parser.add_argument_group("with --api")
    remote.add_argument(
        "--since", metavar="WHEN", help="readings from WHEN: 6h, 2d, 90m ago, or epoch seconds"
    )
    remote.add_argument("--until", metavar="WHEN", help="readings before WHEN (same forms)")
    remote.add_argument(
        "--token-file", type=Path, help="file holding the API token (default: EDGEWATCH_API_TOKEN)"
    )
    data.add_argument("--csv-sep", metavar="SEP", help="CSV separator (default: sniffed)")
    data.add_argument(
        "--csv-time",
        choices=["now", "original"],
        default="now",
        help="as the agent's --csv-time: 'original' also skips rows with unusable times",
    )
    data.add_argument("--rows", type=int, metavar="N", help="train on the first N good rows")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--type",
        default=DEFAULT_TYPE,
        help="sensor type the model judges; must equal the agent's --sensor-type for these "
        f"readings (default: {DEFAULT_TYPE}, CSV replay's default)",
    )
    model.add_argument(
        "--detector",
        default="iforest",
        choices=DETECTORS,
        help="iforest (default), pca (T² + Q), autoencoder or knn (nearest training "
        "pattern); the model file records it",
    )
    model.add_argument(
        "--tier", default="medium", metavar="medium|high", help="medium: 50 trees, high: 100"
    )
    model.add_argument(
        "--window", type=int, default=1, metavar="W", help="rolling window (readings, 1 = none)"
    )
    model.add_argument(
        "--stats", nargs="*", default=[], metavar="STAT", help="rolling stats: mean std delta"
    )
    model.add_argument(
        "--lags", type=int, nargs="*", default=[], metavar="L", help="lagged values: 1 2 ..."
    )
    model.add_argument(
        "--adaptive",
        type=float,
        nargs=3,
        metavar=("K", "ALPHA", "REFRACTORY"),
        help="streaming threshold instead of a fixed one: z > K on an EWMA (rate ALPHA), "
        "then REFRACTORY quiet readings",
    )
    model.add_argument(
        "--clip",
        type=float,
        metavar="C",
        help="with --adaptive: winsorise each EWMA update at C standard deviations",
    )
    model.add_argument(
        "--univariate",
        action="store_true",
        help="pca: also flag a single feature far off its training range (max z²)",
    )
    model.add_argument(
        "--scales",
        type=int,
        nargs="*",
        default=[],
        metavar="S",
        help="knn: time scales in readings, each the current reading and its lags < S",
    )
    model.add_argument(
        "--version", type=int, metavar="N", help="model version (default: now, in epoch seconds)"
    )
    model.add_argument(
        "--smooth",
        type=int,
        default=RECIPE_SMOOTH,
        metavar="K",
        help=f"verdict on the mean of a sensor's last K scores (default {RECIPE_SMOOTH})",
    )
    model.add_argument(
        "--quantile",
        type=float,
        default=RECIPE_THRESHOLD.quantile,
        metavar="Q",
        help=f"threshold: quantile Q of the training scores (default {RECIPE_THRESHOLD.quantile})",
    )
    model.add_argument(
        "--margin",
        type=float,
        default=RECIPE_THRESHOLD.margin,
        metavar="M",
        help=f"... plus M x (that - median score) (default {RECIPE_THRESHOLD.margin})",
    )
    model.add_argument("--seed", type=int, default=0, help="IsolationForest random_state (0)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.onnx",
        help="model file to write (required with --csv; with --api: a copy of the new model)",
    )


def run(args: argparse.Namespace) -> int:
    if args.api is not None:
        from edgewatch.coordinator.models.remote import train_remote

        return train_remote(args)
    try:
        if args.out is None:
            raise ConfigError("--csv needs --out FILE.onnx (where to write the model)")
        config = _config(args)
        _check_out(args.out)
        # Three steps, each seconds on a Pi-sized CSV: say where it is (stderr only).
        with Progress("train", total=3) as progress:
            table = read_csv(args.csv, sep=args.csv_sep, need_time=args.csv_time == "original")
            _check_rows(args.csv, table)
            spec = _spec(args, table)  # all input checked before the first step is shown
            progress.advance(1, f"read {len(table.ts):,} rows")
            version = args.version or next_version(args.out, time.time())
            # Imported once the input is known to be good: onnx and scikit-learn take seconds.
            from edgewatch.coordinator.models.export import export_model

            trained = train_table(
                table, config, sensor_type=args.type, spec=spec, rows=args.rows, version=version
            )
            progress.advance(1, f"fitted {config.detector}")
            export_model(trained, args.out)
            data = args.out.read_bytes()
            progress.advance(1, f"wrote {args.out}")
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(summary(trained, args, table, data))
    return 0


def _config(args: argparse.Namespace) -> TrainConfig:
    """The training knobs, each refused with a ``ConfigError`` naming the option."""
    if args.tier not in TIER_TREES:
        raise ConfigError(f"unknown --tier {args.tier!r}; one of {', '.join(TIER_TREES)}")
    try:
        _SENSOR_TYPE.validate_python(args.type)
    except ValidationError as exc:
        raise ConfigError(f"--type {args.type!r} is not [A-Za-z0-9_.-]{{1,64}}") from exc
    checks = {
        f"--rows must be >= {MIN_ROWS}": args.rows is not None and args.rows < MIN_ROWS,
        "--version must be >= 1": args.version is not None and args.version < 1,
        "--smooth must be >= 1": args.smooth < 1,
        "--quantile must be in [0, 1]": not 0.0 <= args.quantile <= 1.0,
        "--margin must be a number >= 0": not (math.isfinite(args.margin) and args.margin >= 0),
        "--seed must be in [0, 2**32)": not 0 <= args.seed < 2**32,
    }
    for message, failed in checks.items():
        if failed:
            raise ConfigError(message)
    policy = ThresholdPolicy("quantile", quantile=args.quantile, margin=args.margin)
    adaptive = None
    if args.adaptive:
        k, alpha, refractory = args.adaptive
        if not (k > 0 and 0 < alpha < 1 and refractory >= 0 and refractory == int(refractory)):
            raise ConfigError(
                "--adaptive needs K > 0, 0 < ALPHA < 1 and an integer REFRACTORY >= 0"
            )
        adaptive = AdaptiveConfig(k=k, alpha=alpha, refractory=int(refractory), clip=args.clip)
    knobs = {
        "--clip needs --adaptive and C > 0": args.clip is not None
        and not (adaptive and math.isfinite(args.clip) and args.clip > 0),
        "--univariate is a pca option": args.univariate and args.detector != "pca",
        "--scales is a knn option": bool(args.scales) and args.detector != "knn",
        "--scales needs --lags (a scale reads the lags below it)": bool(args.scales)
        and not args.lags,
        "--scales must be distinct numbers >= 1": len(set(args.scales)) != len(args.scales)
        or any(s < 1 for s in args.scales),
    }
    for message, failed in knobs.items():
        if failed:
            raise ConfigError(message)
    return TrainConfig.for_tier(
        args.tier,
        threshold=policy,
        smooth=args.smooth,
        random_state=args.seed,
        detector=args.detector,
        adaptive=adaptive,
        univariate=args.univariate,
        scales=tuple(args.scales),
    )


def _spec(args: argparse.Namespace, table: CsvTable) -> FeatureSpec:
    try:
        return FeatureSpec(
            table.metric_names, window=args.window, stats=tuple(args.stats), lags=tuple(args.lags)
        )
    except ValueError as exc:
        raise ConfigError(f"--window/--stats/--lags: {exc}") from exc


def _check_out(out: Path) -> None:
    # Checked before training, so a typo costs nothing.
    if out.suffix != ".onnx":
        raise ConfigError(f"--out {out} must end in .onnx: agents load only *.onnx files")
    if out.is_dir():
        raise ConfigError(f"--out {out} is a folder; name the model file")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist")


def _check_rows(path: Path, table: CsvTable) -> None:
    if len(table) < MIN_ROWS:
        raise ConfigError(
            f"{path} has {len(table)} good row(s) ({_skipped(table)}); "
            f"training needs at least {MIN_ROWS}"
        )


def next_version(out: Path, now: float) -> int:
    """``now`` in whole seconds, but above the version of a model already at ``out``.

    Seconds keep versions rising from one training to the next; looking at ``out``
    keeps them rising when one file is re-trained twice within a second, or was given a
    large ``--version`` before.
    """
    version = int(now)
    if out.is_file():
        # Imported here: onnxruntime is only needed when there is a model to look at.
        from edgewatch.shared.runtime import OnnxScorer

        # Not a model (or not one of ours): it is overwritten, there is nothing to follow.
        with contextlib.suppress(ModelError):
            version = max(version, OnnxScorer(read_model_bytes(out)).version + 1)
    return version


def _skipped(table: CsvTable) -> str:
    if not table.skipped:
        return "none skipped"
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(table.skipped.items()))
    return f"{sum(table.skipped.values())} skipped: {reasons}"


def _threshold_line(trained: TrainedModel) -> str:
    p = trained.policy
    if p.kind == "adaptive":
        clip = f", clipped at {p.clip:g} sd" if p.clip is not None else ""
        return (
            f"  threshold  adaptive: z > {p.k:g} (EWMA rate {p.alpha:g}, quiet {p.refractory}"
            f"{clip}), score smoothed over {trained.smooth}"
        )
    return f"  threshold  {trained.threshold:.6g}  (score smoothed over {trained.smooth})"


def _detector_line(trained: TrainedModel, args: argparse.Namespace) -> str:
    if trained.kind == "iforest":
        return f"  trees      {len(trained.forest.estimators_)}  (tier {args.tier})"
    detail = ", ".join(f"{k} {v}" for k, v in trained.detector.meta_fields().items())
    return f"  detector   {trained.kind}  ({detail})"


def summary(trained: TrainedModel, args: argparse.Namespace, table: CsvTable, data: bytes) -> str:
    """What was trained and where it went, for a person reading the terminal."""
    names = trained.spec.names
    used = trained.summary.rows
    asked = f"; --rows {args.rows} asked for more" if args.rows and args.rows > used else ""
    lines = [
        f"trained {args.out}",
        f"  type       {trained.sensor_type}  (agents apply it to readings of this type)",
        f"  version    {trained.version}",
        _detector_line(trained, args),
        f"  features   {len(names)}: {', '.join(names)}",
        f"  rows       {used} of {len(table)} good rows in {args.csv} ({_skipped(table)}{asked})",
        _threshold_line(trained),
        f"  file       {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}",
        INSTALL,
    ]
    return "\n".join(lines)
