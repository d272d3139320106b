"""The quality gate of a staged rollout: promote the canary, wait, or roll it back.

Pure: the controller gathers the figures (``GateInput``) over the soak period and asks
``judge``. At any time, a scoring error of the candidate on a canary, or a canary that
refuses the model, fails the gate at once. Once the soak period is over:

========================== ===============================================================
check                      fails when
========================== ===============================================================
anomaly rate               the canary's rate is outside [``rate_low``, ``rate_high``] × the
                           baseline's (rates below ``rate_floor`` count as the floor, so
                           0 against 0.1 % is not "infinitely far off")
score distribution shift   the canary's scores, placed on the candidate's held-back score
                           distribution, are further than ``max_shift`` from it (the largest
                           gap between the two CDFs, measured over tenths)
cloud agreement            fewer than ``min_agreement`` of the canary's re-scored readings
                           got the same verdict from the cloud
========================== ===============================================================

A check needs ``min_readings`` readings on each side (``min_rescored`` for agreement);
a side without enough is waited for up to ``max_soak_factor`` × the soak period, then the
gate fails ("too few readings to judge"): an unjudged model is not promoted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Decision = Literal["pass", "fail", "wait"]


@dataclass(frozen=True)
class GateSettings:
    soak_s: float = 600.0
    min_readings: int = 200
    min_rescored: int = 50
    rate_low: float = 0.5
    rate_high: float = 2.0
    rate_floor: float = 0.002
    max_shift: float = 0.3
    min_agreement: float = 0.9
    max_soak_factor: float = 3.0
    ready_timeout_s: float = 300.0  # canaries must load the model within this

    def __post_init__(self) -> None:
        if not 0 < self.rate_low <= 1 <= self.rate_high:
            raise ValueError("gate rates need 0 < low <= 1 <= high")
        if self.soak_s < 0 or self.max_soak_factor < 1:
            raise ValueError("gate soak must be >= 0 and its factor >= 1")


@dataclass(frozen=True)
class Side:
    readings: int = 0
    anomalies: int = 0

    @property
    def rate(self) -> float:
        return self.anomalies / self.readings if self.readings else 0.0


@dataclass(frozen=True)
class GateInput:
    canary: Side
    baseline: Side
    baseline_kind: str = "other agents"  # or "canaries before", "deciding model (shadow)"
    errors: int = 0
    refusals: tuple[str, ...] = ()
    shift: float | None = None
    rescored: int = 0
    agreed: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "canary_readings": self.canary.readings,
            "canary_anomaly_rate": round(self.canary.rate, 6),
            "baseline_readings": self.baseline.readings,
            "baseline_anomaly_rate": round(self.baseline.rate, 6),
            "baseline": self.baseline_kind,
            "errors": self.errors,
            "score_shift": None if self.shift is None else round(self.shift, 4),
            "rescored": self.rescored,
            "agreement": round(self.agreed / self.rescored, 4) if self.rescored else None,
        }


@dataclass(frozen=True)
class GateVerdict:
    decision: Decision
    reasons: tuple[str, ...]
    figures: dict[str, Any] = field(default_factory=dict)


def judge(inp: GateInput, settings: GateSettings, soaked_s: float) -> GateVerdict:
    """The gate's verdict after ``soaked_s`` seconds of soak."""
    figures = inp.figures()
    now_fail = []
    if inp.errors:
        now_fail.append(f"{inp.errors} scoring error(s) on the canary")
    now_fail.extend(f"a canary refused the model: {r}" for r in inp.refusals)
    if now_fail:
        return GateVerdict("fail", tuple(now_fail), figures)
    if soaked_s < settings.soak_s:
        return GateVerdict("wait", (f"soaking ({soaked_s:.0f}/{settings.soak_s:.0f} s)",), figures)
    short = [
        name
        for name, n in (("canary", inp.canary.readings), ("baseline", inp.baseline.readings))
        if n < settings.min_readings
    ]
    if short:
        why = f"too few readings to judge ({', '.join(short)} < {settings.min_readings})"
        expired = soaked_s >= settings.soak_s * settings.max_soak_factor
        return GateVerdict("fail" if expired else "wait", (why,), figures)
    fails = []
    floor = settings.rate_floor
    ratio = max(inp.canary.rate, floor) / max(inp.baseline.rate, floor)
    figures["anomaly_rate_ratio"] = round(ratio, 4)
    if not settings.rate_low <= ratio <= settings.rate_high:
        # Rates below the floor are compared as the floor (no division by zero, and two
        # near-silent models are not told apart by noise): say so, or 0.0000 reads odd.
        floored = min(inp.canary.rate, inp.baseline.rate) < floor
        fails.append(
            f"anomaly rate {inp.canary.rate:.4f} is {ratio:.2f}x the baseline's "
            f"{inp.baseline.rate:.4f}{f' (rates floored at {floor:g})' if floored else ''} "
            f"(allowed {settings.rate_low}-{settings.rate_high}x)"
        )
    if inp.shift is not None and inp.shift > settings.max_shift:
        fails.append(f"score distribution shifted by {inp.shift:.2f} (> {settings.max_shift})")
    if inp.rescored >= settings.min_rescored:
        agreement = inp.agreed / inp.rescored
        if agreement < settings.min_agreement:
            fails.append(f"cloud agreement {agreement:.3f} < {settings.min_agreement}")
    if fails:
        return GateVerdict("fail", tuple(fails), figures)
    return GateVerdict("pass", ("every check passed",), figures)


def rank_shift(ranks: tuple[int, ...]) -> float | None:
    """The largest gap between the CDF of ``ranks`` (readings per tenth of the reference
    distribution) and the reference's own (uniform); None without readings."""
    total = sum(ranks)
    if not total:
        return None
    seen, worst = 0, 0.0
    for i, n in enumerate(ranks):
        seen += n
        worst = max(worst, abs(seen / total - (i + 1) / len(ranks)))
    return worst
