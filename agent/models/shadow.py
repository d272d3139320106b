"""Shadow scoring: a canary model judges the same readings as the deciding one, silently.

In a shadow rollout (``edgewatch rollout start MODEL --shadow``) the agent keeps scoring
with what it runs (its model, or the rules) and also scores each reading of that type
with the candidate. Only the deciding verdict goes into the outbox; the candidate's
verdicts are tallied here and reported (``reported.shadow``), so the coordinator's
quality gate compares the two on exactly the same readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewatch.shared.readings import BoolArray
from edgewatch.shared.schemas import ShadowReport


@dataclass
class ShadowTally:
    """What one shadow model saw since it was loaded."""

    version: int
    readings: int = 0
    anomalies: int = 0
    live_anomalies: int = 0
    disagreements: int = 0
    errors: int = 0

    def observe(self, live: BoolArray, shadow: BoolArray) -> None:
        self.readings += len(live)
        self.anomalies += int(np.count_nonzero(shadow))
        self.live_anomalies += int(np.count_nonzero(live))
        self.disagreements += int(np.count_nonzero(live != shadow))

    def report(self) -> ShadowReport:
        return ShadowReport(
            version=self.version,
            readings=self.readings,
            anomalies=self.anomalies,
            live_anomalies=self.live_anomalies,
            disagreements=self.disagreements,
            errors=self.errors,
        )
