"""``GET /api/v1/aggregates``: the windows of one scope and size, oldest first."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from fastapi import APIRouter, Query
from pydantic import BaseModel

from edgewatch.coordinator.aggregates.latency import quantile
from edgewatch.coordinator.aggregates.records import AggregateQuery, WindowAggregate
from edgewatch.coordinator.aggregates.windows import NAMES, WINDOWS, check_scope
from edgewatch.coordinator.api.deps import StoreDep
from edgewatch.coordinator.errors import BadRequestError
from edgewatch.shared.errors import ConfigError

# The schema names the sizes (WINDOWS' keys), so a client sees them in /docs.
Window = Literal["1m", "5m", "15m", "1h"]
assert set(get_args(Window)) == set(WINDOWS)

router = APIRouter(prefix="/aggregates", tags=["aggregates"])


class MetricOut(BaseModel):
    count: int
    mean: float
    std: float | None
    min: float
    max: float


class WindowOut(BaseModel):
    scope: str
    window: str
    start: int
    end: int
    count: int
    anomalies: int
    anomaly_rate: float | None
    statuses: dict[str, int]
    latency_s: dict[str, float | None]
    metrics: dict[str, MetricOut]
    revisions: int
    revised_at: float | None
    updated_at: float


class WindowsPage(BaseModel):
    scope: str
    window: str
    windows: list[WindowOut]


def window_out(w: WindowAggregate) -> WindowOut:
    s = w.stats
    return WindowOut(
        scope=w.scope,
        window=NAMES[w.size_s],
        start=w.start,
        end=w.end,
        count=s.count,
        anomalies=s.anomalies,
        anomaly_rate=s.anomaly_rate,
        statuses=dict(s.statuses),
        latency_s={f"p{q}": quantile(s.latency, q / 100) for q in (50, 95, 99)},
        metrics={
            name: MetricOut(count=m.count, mean=m.mean, std=m.std, min=m.min, max=m.max)
            for name, m in sorted(s.metrics.items())
        },
        revisions=w.revisions,
        revised_at=w.revised_at,
        updated_at=w.updated_at,
    )


@router.get("")
def list_windows(
    store: StoreDep,
    scope: Annotated[
        str,
        Query(
            description="sensor:ID, type:T, agent:A or fleet",
            pattern=r"^(fleet|(sensor|type|agent):.{1,128})$",
        ),
    ] = "fleet",
    window: Annotated[Window, Query(description="the window size")] = "5m",
    since: Annotated[float | None, Query(description="windows starting at or after")] = None,
    until: Annotated[float | None, Query(description="windows starting before")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> WindowsPage:
    try:
        check_scope(scope)
    except ConfigError as exc:
        raise BadRequestError("scope", str(exc)) from None
    found = store.aggregates(
        AggregateQuery(size_s=WINDOWS[window], scope=scope, since=since, until=until, limit=limit)
    )
    return WindowsPage(scope=scope, window=window, windows=[window_out(w) for w in found])
