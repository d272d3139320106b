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
class Validation:
    folds: list[Fold]
    candidates: int
    fixed: Recipe
    all_groups_choice: Recipe  # the criterion applied to every file: what should ship

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
    return Validation(folds, len(per_file), fixed, choose(everything))
