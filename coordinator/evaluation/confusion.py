"""Row-wise verdicts against labels: the counts and the SKAB leaderboard's figures."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgewatch.shared.readings import BoolArray


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of verdicts against labels; ``+`` pools them."""

    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    @staticmethod
    def of(truth: BoolArray, predicted: BoolArray) -> Confusion:
        return Confusion(
            tp=int((predicted & truth).sum()),
            fp=int((predicted & ~truth).sum()),
            tn=int((~predicted & ~truth).sum()),
            fn=int((~predicted & truth).sum()),
        )

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn
        )

    def __sub__(self, other: Confusion) -> Confusion:
        """The pool without ``other`` (a part of it): leave-one-out folds."""
        return Confusion(
            self.tp - other.tp, self.fp - other.fp, self.tn - other.tn, self.fn - other.fn
        )

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def far(self) -> float:
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def mar(self) -> float:
        return _ratio(self.fn, self.fn + self.tp)

    def figures(self) -> dict[str, float | int]:
        return {"f1": self.f1, "far": self.far, "mar": self.mar, **asdict(self)}


def _ratio(a: int, b: int) -> float:
    return a / b if b else 0.0
