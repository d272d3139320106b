"""What the coordinator's alert settings tell every agent through its desired state."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgewatch.coordinator.service import CoordinatorService
from tests.support.coordinator import make_settings


@pytest.mark.parametrize(
    ("flags", "edge_enabled"),
    [({}, True), ({"alerts": False}, False), ({"aggregates": False, "alerts": False}, False)],
)
def test_agents_raise_alerts_only_where_an_engine_takes_them(
    tmp_path: Path, flags: dict[str, bool], edge_enabled: bool
) -> None:
    service = CoordinatorService(make_settings(tmp_path, "embedded:0", **flags))
    try:
        config = service.analytics.desired_config()
        assert config is not None and config.alerts is not None
        # Without an engine nobody would ack an agent's alerts: they would wait forever.
        assert config.alerts.enabled is edge_enabled
    finally:
        service.store.close()
