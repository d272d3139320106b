"""Which scorer an agent runs: rules until it has a model, models per sensor type after.

Every agent gets a ``TieredScorer`` whose fallback is the rule scorer, so a model can be
hot-loaded later (``TieredScorer.load``) and each result names the scorer that judged it.
"""

from __future__ import annotations

import logging

from edgewatch.agent.scorers.rules import RuleScorer, RuleSet
from edgewatch.agent.settings import AgentSettings
from edgewatch.shared.errors import ModelError
from edgewatch.shared.scoring import Scorer

log = logging.getLogger(__name__)


def default_rules_scorer() -> RuleScorer:
    """The notebook's low-tier ranges (temperature, vibration, power)."""
    return RuleScorer(None)


def build_scorer(settings: AgentSettings) -> Scorer:
    rules = RuleSet.from_toml(settings.rules) if settings.rules else None
    fallback = RuleScorer(rules)
    try:
        from edgewatch.agent.scorers.tiered import TieredScorer
    except ImportError:  # the model tier is optional on the smallest boxes
        log.info("ONNX tier unavailable; scoring with rules only")
        return fallback
    tiered = TieredScorer(fallback)
    models = settings.data_dir / "models"
    for path in sorted(models.glob("*.onnx")) if models.is_dir() else []:
        try:
            tiered.load(path)
            log.info("loaded model %s", path.name)
        except (ModelError, OSError) as exc:  # a bad model must not stop scoring
            log.error("cannot load model %s: %s; keeping rules for its type", path, exc)
    return tiered
