"""``Status`` as the terminal table of ``edgewatch status``."""

from __future__ import annotations

from edgewatch.coordinator.status.report import AgentLine, Status

COLUMNS = ("AGENT", "STATE", "TIER", "CPU%", "MEM%", "BATT%", "SENSORS", "OUTBOX", "OLDEST",
           "MODELS", "DESIRED", "HEARTBEAT")  # fmt: skip
RIGHT = {"CPU%", "MEM%", "BATT%", "SENSORS", "OUTBOX", "OLDEST", "HEARTBEAT"}


def _num(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _cells(a: AgentLine) -> tuple[str, ...]:
    models = ", ".join(f"{t}@{v}" for t, v in a.models.items()) or "rules"
    active = "-" if a.sensors_active is None else str(a.sensors_active)
    return (
        a.id, a.state, a.tier or "-", _num(a.cpu_percent), _num(a.memory_percent),
        _num(a.battery_percent), f"{active}/{a.sensors_desired}", _num(a.outbox_rows),
        _age(a.outbox_oldest_age_s), models, a.sync, _age(a.heartbeat_age_s),
    )  # fmt: skip


def render(status: Status) -> str:
    head = (
        f"coordinator {status.api}  {'ready' if status.ready else 'NOT READY'}  "
        f"broker {'up' if status.broker_connected else 'DOWN'}"
        f"{f' (MQTT {status.mqtt_protocol})' if status.mqtt_protocol else ''}  "
        f"ingest {status.ingest_readings_per_s:,.0f} readings/s  stored {status.readings_stored:,}"
        f"  anomalies {status.anomalies_stored:,}  refused {status.rejected:,}"
    )
    rows = [COLUMNS, *(_cells(a) for a in status.agents)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = [head, ""]
    for row in rows:
        lines.append(
            "  ".join(
                cell.rjust(w) if COLUMNS[i] in RIGHT else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    if not status.agents:
        lines.append("(no agent has announced itself yet)")
    lines.append("")
    if status.attention:
        lines.append(f"needs attention ({len(status.attention)}):")
        lines.extend(f"  - {note}" for note in status.attention)
    else:
        lines.append("all well")
    return "\n".join(lines)
