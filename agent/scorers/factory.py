"""Which scorer an agent runs: rules until it has a model, models per sensor type after.

Every agent gets a ``TieredScorer`` whose fallback is the rule scorer, so a model can be
hot-loaded later (``TieredScorer.load``) and each result names the scorer that judged it.
The models themselves are loaded by the agent's model manager (``agent.models``): the
ones an operator put into ``DATA_DIR/models/*.onnx`` and the ones pushed before a
restart, each checked against the pinned signing key when there is one.
"""

from __future__ import annotations

from edgewatch.agent.scorers.rules import RuleScorer, RuleSet
from edgewatch.agent.scorers.tiered import TieredScorer
from edgewatch.agent.settings import AgentSettings


def default_rules_scorer() -> RuleScorer:
    """The notebook's low-tier ranges (temperature, vibration, power)."""
    return RuleScorer(None)


def build_scorer(settings: AgentSettings) -> TieredScorer:
    rules = RuleSet.from_toml(settings.rules) if settings.rules else None
    return TieredScorer(RuleScorer(rules))
