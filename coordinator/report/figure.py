"""The analytics figure: one PNG, one panel per question an operator asks of a period.

Drawn with matplotlib's Agg backend (no display needed). A panel without data says so in
its middle instead of drawing something made up.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from edgewatch.coordinator.aggregates.latency import bucket_value
from edgewatch.coordinator.report.data import ReportData

STATE_COLOURS = {"online": "#2a9d4b", "offline": "#d03a3a", "lost": "#d03a3a"}


def _dates(ts: list[float]) -> np.ndarray:
    """Epoch seconds as datetime64 (matplotlib draws those on a date axis)."""
    return (np.asarray(ts, dtype=np.float64) * 1000).astype("datetime64[ms]")


def _empty(ax: Axes, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="grey")


def _time_axis(ax: Axes, data: ReportData) -> None:
    start, stop = _dates([data.since, data.until])
    ax.set_xlim(start, stop)  # the whole period, so panels line up and gaps show
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))  # type: ignore[no-untyped-call]
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)


def _throughput(ax: Axes, data: ReportData) -> None:
    ax.set_title(f"Readings stored per second ({data.window_s // 60} min windows)")
    if not data.throughput.t:
        return _empty(ax, "no readings in this period")
    ax.plot(
        _dates(data.throughput.t), data.throughput.values, color="#3b82f6", marker=".",
        drawstyle="steps-post",
    )  # fmt: skip
    ax.set_ylim(bottom=0)
    _time_axis(ax, data)


def _anomaly_rate(ax: Axes, data: ReportData) -> None:
    ax.set_title("Anomaly rate per sensor type (edge verdict)")
    if not data.anomaly_rate:
        return _empty(ax, "no readings in this period")
    for sensor_type, s in data.anomaly_rate.items():
        ax.plot(
            _dates(s.t), [100 * v for v in s.values], label=sensor_type, marker=".",
            drawstyle="steps-post",
        )  # fmt: skip
    ax.set_ylabel("%")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    _time_axis(ax, data)


def _latency(ax: Axes, data: ReportData) -> None:
    ax.set_title("Reading → committed latency")
    pairs = sorted((int(k), n) for k, n in data.latency.items() if n)
    if not pairs:
        return _empty(ax, "no readings in this period")
    values = np.array([bucket_value(k) for k, _ in pairs])
    counts = np.array([n for _, n in pairs], dtype=float)
    edges = np.geomspace(max(values.min(), 1e-3) / 1.2, values.max() * 1.2, 30)
    ax.hist(values, bins=list(edges), weights=counts, color="#8b5cf6")
    ax.set_xscale("log")
    ax.set_xlabel("seconds")
    ax.set_ylabel("readings")
    cumulative = np.cumsum(counts) / counts.sum()
    for q in (0.5, 0.99):
        at = float(values[np.searchsorted(cumulative, q)])
        ax.axvline(at, color="black", linestyle="--", linewidth=0.8)
        ax.text(at, ax.get_ylim()[1] * 0.9, f" p{int(q * 100)} {at:.3g} s", fontsize=8)


def _agents(ax: Axes, data: ReportData) -> None:
    ax.set_title("Agents: readings stored, state now")
    if not data.agents:
        return _empty(ax, "no agent has announced itself")
    agents = sorted(data.agents, key=lambda a: a.agent_id)[:40]
    ax.barh(
        [a.agent_id for a in agents],
        [a.readings for a in agents],
        color=[STATE_COLOURS.get(a.state, "grey") for a in agents],
    )
    ax.invert_yaxis()
    ax.tick_params(axis="y", labelsize=7)
    legend = [
        Patch(color="#2a9d4b", label="online"),
        Patch(color="#d03a3a", label="offline / lost"),
    ]
    ax.legend(handles=legend, fontsize=8, loc="lower right")


def _alerts(ax: Axes, data: ReportData) -> None:
    ax.set_title("Alerts open, per rule")
    if not data.alerts:
        return _empty(ax, "no alert in this period")
    # How many alerts of each rule were open at each moment (a step line per rule): a
    # storm of one rule and one long-lived alert both read at a glance.
    grid = np.linspace(data.since, data.until, 400)
    for rule in sorted({a.rule for a in data.alerts}):
        spans = [(a.raised_at, a.cleared_at or data.until) for a in data.alerts if a.rule == rule]
        counts = [sum(1 for lo, hi in spans if lo <= t < hi) for t in grid]
        ax.plot(_dates(list(grid)), counts, label=rule, drawstyle="steps-post")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("open")
    ax.legend(fontsize=8)
    _time_axis(ax, data)


def _confidence(ax: Axes, data: ReportData) -> None:
    n = len(data.confidence_normal) + len(data.confidence_anomalous)
    ax.set_title(f"Verdict confidence (newest {n:,} readings)")
    if not n:
        return _empty(ax, "no readings in this period")
    bins = [i / 20 for i in range(21)]
    ax.hist(
        [data.confidence_normal, data.confidence_anomalous],
        bins=bins,
        stacked=True,
        color=["#3b82f6", "#d03a3a"],
        label=["normal", "anomaly"],
    )
    ax.set_xlabel("confidence")
    ax.legend(fontsize=8)


def _judges(ax: Axes, data: ReportData) -> None:
    j = data.judges
    start = datetime.fromtimestamp(j.since, UTC).strftime("%m-%d %H:%M")
    ax.set_title(f"Edge vs cloud: who judged the readings (from {start} UTC on)")
    if not j.types:
        return _empty(ax, "no verdicts counted in this period")
    y = np.arange(len(j.types))
    ax.barh(y - 0.2, j.edge_model, 0.4, color="#2a9d4b", label="edge: model")
    ax.barh(y - 0.2, j.edge_rules, 0.4, left=j.edge_model, color="#f59e0b", label="edge: rules")
    ax.barh(y + 0.2, j.rescored, 0.4, color="#3b82f6", label="cloud: re-scored")
    for i, (n, agreed) in enumerate(zip(j.rescored, j.agreed, strict=True)):
        if n:  # how often the cloud's verdict matched the edge's, where it looked
            ax.text(n, i + 0.2, f" {100 * agreed / n:.1f} % agree", va="center", fontsize=8)
    ax.set_yticks(y, j.types)
    ax.invert_yaxis()
    ax.set_xlabel("readings")
    ax.legend(fontsize=8, loc="lower right")


def _heatmap(ax: Axes, data: ReportData) -> None:
    h = data.heatmap
    ax.set_title("Anomaly rate per sensor and window")
    if not h.sensors:
        return _empty(ax, "no readings in this period")
    grid = np.array([[math.nan if v is None else v for v in row] for row in h.rates])
    edges = _dates([*h.starts, h.starts[-1] + data.window_s])
    image = ax.pcolormesh(
        edges,
        np.arange(len(h.sensors) + 1) - 0.5,
        np.ma.masked_invalid(grid),
        cmap="magma_r",
        vmin=0,
        vmax=1,
    )
    ax.invert_yaxis()
    step = max(1, len(h.sensors) // 25)  # at most ~25 labels: they must stay legible
    ticks = list(range(0, len(h.sensors), step))
    ax.set_yticks(ticks, [h.sensors[i] for i in ticks], fontsize=7)
    _time_axis(ax, data)
    plt.colorbar(image, ax=ax, fraction=0.03, label="anomaly rate")


# Two a row, then the two time lines that want the whole width.
PANELS = (_throughput, _anomaly_rate, _latency, _judges, _agents, _confidence)
WIDE = (_alerts, _heatmap)


def render(data: ReportData, out: Path) -> None:
    fig = plt.figure(figsize=(20, 20), layout="constrained")
    grid = fig.add_gridspec(5, 2)
    for i, draw in enumerate(PANELS):
        draw(fig.add_subplot(grid[i // 2, i % 2]), data)
    for row, draw in enumerate(WIDE, start=len(PANELS) // 2):
        draw(fig.add_subplot(grid[row, :]), data)
    since, until = (
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M") for t in (data.since, data.until)
    )
    fig.suptitle(f"edgewatch: {since} to {until} UTC", fontsize=14)
    fig.savefig(out, dpi=80)
    plt.close(fig)
