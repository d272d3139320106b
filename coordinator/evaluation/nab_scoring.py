"""NAB's scoring, reimplemented from its documentation and checked against its figures.

Per file of ``n`` records, in order (NAB's ``Sweeper``):

- the first ``min(floor(0.15 n), 750)`` records are the *probationary period*: a detector
  may learn from them, nothing in them is scored;
- a detection inside a labelled window ``[start, end]`` (``width`` records) at record ``i``
  is worth ``tp · σ(−(end − i + 1) / width) / σ(−1)``, with the *scaled sigmoid*
  ``σ(y) = 2 / (1 + exp(5 y)) − 1`` (``−1`` for ``y ≥ 3``): the earliest detection of a
  window is worth ``tp``, one at its last record nearly nothing. Only the best (that is,
  the first) detection of a window counts; a window without one costs ``−fn``;
- a detection outside every window costs ``fp · σ((i − end) / (width − 1))`` measured from
  the end of the window before it (so a detection just after a window costs little and
  one far from it ``−fp``); before the first window it costs ``−fp``.

A window whose records all fall in the probationary period is not scored at all. The raw
scores of all files are summed per profile and normalised,
``100 · (raw − null) / (perfect − null)``, where ``null`` is the raw score of the detector
that never fires (every scored window missed) and ``perfect`` is ``tp`` times the number
of windows (each detected at its first record): so the null detector scores 0 and the
perfect one 100.

Two corner cases NAB's code leaves to chance are pinned down here: a window limit that
is not exactly a record's time covers the records inside ``[start, end]`` (NAB would
never enter such a window), and a false positive after a one-record window costs the full
``−fp`` (NAB divides by zero there).

>>> round(scaled_sigmoid(-1.0), 5), scaled_sigmoid(0.0), scaled_sigmoid(3.0)
(0.98661, 0.0, -1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from edgewatch.shared.readings import BoolArray, FloatArray

PROBATION_PERCENT = 0.15
PROBATION_MAX = 750  # 0.15 x 5000, NAB's cap


@dataclass(frozen=True, slots=True)
class Profile:
    """One of NAB's application profiles: the weights of its cost matrix."""

    name: str
    tp: float
    fp: float
    fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", tp=1.0, fp=0.11, fn=1.0),
    Profile("reward_low_FP_rate", tp=1.0, fp=0.22, fn=1.0),
    Profile("reward_low_FN_rate", tp=1.0, fp=0.11, fn=2.0),
)


def probation_length(n: int) -> int:
    """Records at the start of a file of ``n`` records that are learnt from, not scored."""
    return int(min(math.floor(PROBATION_PERCENT * n), PROBATION_MAX))


def scaled_sigmoid(position: float) -> float:
    """NAB's weight of a detection at a relative ``position`` (see the module docstring)."""
    if position >= 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


@dataclass(frozen=True, slots=True)
class Windows:
    """A file's labelled windows as record indices ``[first, last]``, in time order."""

    first: tuple[int, ...]
    last: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.first)

    @staticmethod
    def of(ts: FloatArray, limits: Sequence[tuple[float, float]]) -> Windows:
        """Windows from time limits; a window that covers no record is dropped."""
        first: list[int] = []
        last: list[int] = []
        for start, end in sorted(limits):
            a = int(np.searchsorted(ts, start, side="left"))
            b = int(np.searchsorted(ts, end, side="right")) - 1
            if a <= b:
                first.append(a)
                last.append(b)
        return Windows(tuple(first), tuple(last))

    def labels(self, n: int) -> BoolArray:
        """True on every record inside a window."""
        inside = np.zeros(n, dtype=np.bool_)
        for a, b in zip(self.first, self.last, strict=True):
            inside[a : b + 1] = True
        return inside


@dataclass(frozen=True, slots=True)
class FileScore:
    """One file under one profile: the raw score and what made it."""

    raw: float
    null: float  # the raw score of a detector that never fires
    windows: int  # all windows of the file (the perfect detector's count)
    detected: int  # scored windows with a detection
    missed: int  # scored windows without one
    false_positives: int  # detections outside every window (after probation)


def score_file(detections: BoolArray, windows: Windows, profile: Profile) -> FileScore:
    """NAB's raw score of one file's ``detections`` (a bool per record)."""
    n = len(detections)
    probation = probation_length(n)
    inside = np.full(n, -1, dtype=np.int64)  # window number of each record, -1 outside
    for k, (a, b) in enumerate(zip(windows.first, windows.last, strict=True)):
        inside[a : b + 1] = k
    best = {k: -profile.fn for k in range(len(windows)) if windows.last[k] >= probation}
    fp_total = 0.0
    false_positives = 0
    max_tp = scaled_sigmoid(-1.0)
    for i in np.flatnonzero(detections[probation:]) + probation:
        k = int(inside[i])
        if k >= 0:
            width = windows.last[k] - windows.first[k] + 1
            weight = scaled_sigmoid(-(windows.last[k] - i + 1) / width)
            best[k] = max(best[k], weight * profile.tp / max_tp)
            continue
        false_positives += 1
        fp_total += profile.fp * scaled_sigmoid(_distance_past_window(int(i), windows))
    detected = sum(1 for v in best.values() if v > -profile.fn)
    return FileScore(
        raw=fp_total + sum(best.values()),
        null=-profile.fn * len(best),
        windows=len(windows),
        detected=detected,
        missed=len(best) - detected,
        false_positives=false_positives,
    )


def _distance_past_window(i: int, windows: Windows) -> float:
    """Relative distance of record ``i`` past the end of the window before it (3 = far)."""
    before = [k for k, last in enumerate(windows.last) if last < i]
    if not before:
        return 3.0
    k = before[-1]
    width = windows.last[k] - windows.first[k] + 1
    if width <= 1:
        return 3.0
    return abs(windows.last[k] - i) / (width - 1)


@dataclass(frozen=True, slots=True)
class CorpusScore:
    """A detector's figures over a corpus under one profile."""

    profile: str
    score: float  # normalised: null 0, perfect 100
    raw: float
    null: float
    perfect: float
    detected: int
    missed: int
    false_positives: int

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "score": round(self.score, 3),
            "raw": round(self.raw, 4),
            "null": self.null,
            "perfect": self.perfect,
            "windows_detected": self.detected,
            "windows_missed": self.missed,
            "false_positives": self.false_positives,
        }


def normalise(parts: Sequence[FileScore], profile: Profile) -> CorpusScore:
    """The corpus score of per-file scores: ``100 (raw − null) / (perfect − null)``."""
    raw = sum(p.raw for p in parts)
    null = sum(p.null for p in parts)
    perfect = profile.tp * sum(p.windows for p in parts)
    span = perfect - null
    return CorpusScore(
        profile=profile.name,
        score=100.0 * (raw - null) / span if span else 0.0,
        raw=raw,
        null=null,
        perfect=perfect,
        detected=sum(p.detected for p in parts),
        missed=sum(p.missed for p in parts),
        false_positives=sum(p.false_positives for p in parts),
    )


def score_corpus(
    detections: Mapping[str, BoolArray], windows: Mapping[str, Windows]
) -> dict[str, CorpusScore]:
    """Every profile's corpus score of per-file ``detections`` (same keys as ``windows``)."""
    return {
        p.name: normalise([score_file(detections[k], windows[k], p) for k in windows], p)
        for p in PROFILES
    }
