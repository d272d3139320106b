"""Choosing hyperparameters without looking at the rows they are judged on.

Leave one group out: the labelled files fall into groups (SKAB's top folders, valve1 and
other). For each group in turn, every candidate recipe is scored on the *other* groups
(the development set) and the best one there is chosen: the highest F1 among those
whose FAR is at most ``FAR_CAP`` (if none is, the lowest FAR). The chosen recipe is then
scored on the held-out group. The held-out results, pooled over the folds, are the
honest estimate: no figure in them comes from a recipe chosen by looking at its own rows.

The recipe that ships (``recipe.SKAB_RECIPE``) is the same criterion applied to all the
SKAB files here (so its own figure on them is in-sample); the report says whether the
run at hand picks it again and whether every fold chose it.

A second estimate, *leave one file out*, applies the same criterion to the 29 other
files for each file in turn. Its choices are made on both groups, as the shipped
recipe's was, so it measures how that choice carries to a new file of a known kind;
leave one group out measures how a choice carries to a kind never seen (the harder
question, and the headline). With two groups as unlike as SKAB's, the group estimate
swings with which candidate sits just under the FAR cap on the other group; both are
reported.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgewatch.coordinator.evaluation.confusion import Confusion
from edgewatch.coordinator.evaluation.recipe import Recipe

FAR_CAP = 0.15
PROTOCOL = (
    "leave one group out: for each group, the candidate with the best F1 at FAR <= "
    f"{FAR_CAP:.0%} on the other groups is chosen and scored on the held-out group"
)


@dataclass(frozen=True, slots=True)
class Fold:
    held_out: str
    chosen: Recipe
    dev: Confusion
    test: Confusion


@dataclass(frozen=True, slots=True)
class FileFolds:
    """Leave one file out: the pooled held-out figures and how often each recipe won."""

    pooled: Confusion
    chosen: dict[str, int]

    def to_dict(self) -> dict[str, object]:
        c = self.pooled
        return {
            "protocol": FILE_PROTOCOL,
            "held_out_pooled": {
                "f1": round(c.f1, 4),
                "far": round(c.far, 4),
                "mar": round(c.mar, 4),
            },
            "chosen": self.chosen,
        }


FILE_PROTOCOL = (
    "leave one file out: for each file, the candidate with the best F1 at FAR <= "
    f"{FAR_CAP:.0%} on the other files is chosen and scored on that file"
)


@dataclass(frozen=True, slots=True)
class Validation:
    folds: list[Fold]
    candidates: int
    fixed: Recipe
    all_groups_choice: Recipe  # the criterion applied to every file: what should ship
    by_file: FileFolds | None = None

    @property
    def pooled(self) -> Confusion:
        return sum((f.test for f in self.folds), Confusion())

    @property
    def agrees(self) -> bool:
        return all(f.chosen == self.fixed for f in self.folds)

    def to_dict(self) -> dict[str, object]:
        def short(c: Confusion) -> dict[str, float]:
            return {"f1": round(c.f1, 4), "far": round(c.far, 4), "mar": round(c.mar, 4)}

        return {
            "protocol": PROTOCOL,
            "candidates": self.candidates,
            "folds": [
                {
                    "held_out": f.held_out,
                    "chosen": f.chosen.name,
                    "dev": short(f.dev),
                    "held_out_figures": short(f.test),
                }
                for f in self.folds
            ],
            "held_out_pooled": {**short(self.pooled), "tp": self.pooled.tp, "fp": self.pooled.fp},
            "fixed_recipe": self.fixed.name,
            "criterion_on_all_groups": self.all_groups_choice.name,
            "fixed_recipe_is_that_choice": self.fixed == self.all_groups_choice,
            "every_fold_chose_the_fixed_recipe": self.agrees,
            "leave_one_file_out": self.by_file.to_dict() if self.by_file else None,
        }


def choose(scores: Mapping[Recipe, Confusion]) -> Recipe:
    """The best F1 among recipes within the FAR cap, else the lowest FAR (ties: first)."""
    within = [r for r, c in scores.items() if c.far <= FAR_CAP]
    if within:
        return max(within, key=lambda r: scores[r].f1)
    return min(scores, key=lambda r: scores[r].far)


def leave_one_group_out(
    groups: Sequence[str], per_file: Mapping[Recipe, Sequence[Confusion]], fixed: Recipe
) -> Validation:
    """Folds over the distinct ``groups`` (one per file, aligned with ``per_file``)."""
    folds = []
    for held in sorted(set(groups)):
        dev = {
            r: sum((c for c, g in zip(cs, groups, strict=True) if g != held), Confusion())
            for r, cs in per_file.items()
        }
        chosen = choose(dev)
        test = sum(
            (c for c, g in zip(per_file[chosen], groups, strict=True) if g == held), Confusion()
        )
        folds.append(Fold(held, chosen, dev[chosen], test))
    everything = {r: sum(cs, Confusion()) for r, cs in per_file.items()}
    return Validation(folds, len(per_file), fixed, choose(everything), leave_one_file_out(per_file))


def leave_one_file_out(per_file: Mapping[Recipe, Sequence[Confusion]]) -> FileFolds:
    """Each file scored with the recipe the criterion picks on all the other files."""
    totals = {r: sum(cs, Confusion()) for r, cs in per_file.items()}
    n = len(next(iter(per_file.values()), []))
    pooled = Confusion()
    chosen: dict[str, int] = {}
    for i in range(n):
        others = {r: totals[r] - cs[i] for r, cs in per_file.items()}
        pick = choose(others)
        chosen[pick.name] = chosen.get(pick.name, 0) + 1
        pooled = pooled + per_file[pick][i]
    return FileFolds(pooled, chosen)
