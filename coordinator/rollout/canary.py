"""Choosing the canary agents of a rollout from what the operator asked.

``--canary 10%`` takes ceil(10 % of the online target agents), at least one, chosen by a
stable hash of (model id, agent id): the same request picks the same agents, and
successive models spread over the fleet. ``--canary pi-1,pi-2`` names them (each must be
a target: it handles the type and can run the tier). ``100%`` (``--all``) skips the
canary: the model goes to every agent at once.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from edgewatch.coordinator.models.errors import Refused
from edgewatch.coordinator.rollout.fleet_view import AgentView

_PERCENT = re.compile(r"^(\d{1,3}(?:\.\d+)?)%$")


@dataclass(frozen=True)
class CanaryChoice:
    agents: tuple[str, ...]
    everyone: bool  # 100 %: promote at once


def parse_spec(spec: str) -> float | list[str]:
    """A share in (0, 1] or a list of agent ids; ``Refused`` for anything else."""
    text = spec.strip()
    m = _PERCENT.match(text)
    if m:
        share = float(m.group(1)) / 100
        if not 0 < share <= 1:
            raise Refused(f"canary {spec!r}: a share must be within (0%, 100%]")
        return share
    if text.lower() == "all":
        return 1.0
    names = [a.strip() for a in text.split(",") if a.strip()]
    if not names or any(not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", a) for a in names):
        raise Refused(f"canary {spec!r}: give N% or agent ids separated by commas")
    return names


def choose(spec: str, model_id: int, targets: Sequence[AgentView]) -> CanaryChoice:
    wanted = parse_spec(spec)
    ids = [t.agent_id for t in targets]
    if isinstance(wanted, list):
        strangers = [a for a in wanted if a not in ids]
        if strangers:
            raise Refused(
                f"agent(s) {', '.join(strangers)} cannot run this model (they must handle its "
                f"sensor type and have its tier or higher); targets: {', '.join(ids) or 'none'}"
            )
        return CanaryChoice(tuple(sorted(set(wanted))), everyone=False)
    if wanted >= 1.0:
        return CanaryChoice(tuple(ids), everyone=True)
    online = [t.agent_id for t in targets if t.online]
    if not online:
        raise Refused("no online agent can run this model: nobody to be the canary")
    k = max(1, math.ceil(wanted * len(online)))
    ranked = sorted(online, key=lambda a: hashlib.sha256(f"{model_id}:{a}".encode()).digest())
    return CanaryChoice(tuple(sorted(ranked[:k])), everyone=False)
