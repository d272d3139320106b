"""Alert rules: the defaults (the notebook's five and more) and a TOML file over them.

A rule watches one **metric** (``METRICS``) per scope of one kind, and raises when the
value passes ``above`` or ``below`` (exactly one), for at least ``for``; it clears once
the value is back past ``clear`` (hysteresis). Event rules (``critical_anomaly``,
``model_rollback``) raise on an event and clear after ``clear_after`` without one.

```toml
[rules.high_anomaly_rate]        # a default rule: only what you give changes
above = 0.2

[rules.very_high_anomaly_rate]   # a rule of your own, on a known metric
metric = "anomaly_rate"
scope = "sensor"
above = 0.5
clear = 0.3
window = "5m"
severity = "critical"

[rules.low_battery]
enabled = false

[webhooks]
critical = "https://hooks.example.net/edgewatch"
```

A file that does not parse, names an unknown metric, key or scope, or gives levels the
wrong way round is refused at start with its line and the reason (``RuleFileError``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgewatch.coordinator.alerts.catalog import (
    DEFAULT_RULES,
    METRICS,
    Metric,
    Rule,
    ScopeKind,
)
from edgewatch.coordinator.alerts.records import SEVERITIES, Severity
from edgewatch.shared.errors import ConfigError


class RuleFileError(ConfigError):
    """A rule file refused at start: its path, the line and the reason."""


@dataclass(frozen=True)
class RuleSet:
    rules: dict[str, Rule]
    webhooks: dict[Severity, str] = field(default_factory=dict)
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 3

    def enabled(self) -> list[Rule]:
        return [r for r in self.rules.values() if r.enabled]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, None: 1.0}
_RULE_KEYS = {
    "metric",
    "scope",
    "severity",
    "above",
    "below",
    "clear",
    "for",
    "window",
    "min_count",
    "clear_after",
    "enabled",
    "description",
}


def duration(value: object) -> float:
    """``"30s"``, ``"5m"``, ``"1h"``, ``"250ms"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration, not a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration is not negative")
        return float(value)
    if isinstance(value, str) and (m := _DURATION.match(value)):
        return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"{value!r} is not a duration (e.g. 30s, 5m, 1h)")


def _line(text: str, rule: str | None, key: str | None) -> int:
    """Best line for an error: the key inside the rule's table, else the table header."""
    lines = text.splitlines()
    header = 0
    if rule is not None:
        pattern = re.compile(rf"^\s*\[\s*rules\s*\.\s*\"?{re.escape(rule)}\"?\s*\]")
        header = next((i + 1 for i, ln in enumerate(lines) if pattern.match(ln)), 0)
    if key is not None:
        kp = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
        for i in range(header, len(lines)):
            if i > header and lines[i].lstrip().startswith("["):
                break
            if kp.match(lines[i]):
                return i + 1
    return header or 1


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{value!r} is not a number")
    return float(value)


def _severity(value: object) -> str:
    if value not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}")
    return str(value)


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("min_count must be an integer >= 1")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("enabled must be true or false")
    return value


def _apply(base: Rule | None, name: str, table: dict[str, Any], err: Any) -> Rule:
    unknown = sorted(set(table) - _RULE_KEYS)
    if unknown:
        raise err(
            unknown[0], f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_RULE_KEYS))})"
        )
    metric = table.get("metric", base.metric if base else None)
    if metric is None:
        raise err(None, f"rule {name!r} is not a default rule: give its metric")
    if metric not in METRICS:
        raise err("metric", f"unknown metric {metric!r} (known: {', '.join(METRICS)})")
    m = METRICS[metric]
    fields: dict[str, Any] = {"metric": metric}
    scope = table.get("scope", base.scope if base and base.metric == metric else m.scopes[0])
    if scope not in m.scopes:
        raise err(
            "scope", f"metric {metric!r} has no scope {scope!r} (one of {', '.join(m.scopes)})"
        )
    fields["scope"] = scope
    parsers: dict[str, tuple[str, Any]] = {
        "severity": ("severity", _severity),
        "above": ("above", _number),
        "below": ("below", _number),
        "clear": ("clear", _number),
        "for": ("for_s", duration),
        "window": ("window_s", duration),
        "clear_after": ("clear_after_s", duration),
        "min_count": ("min_count", _count),
        "enabled": ("enabled", _flag),
        "description": ("description", str),
    }
    for key, (target, parse) in parsers.items():
        if key not in table:
            continue
        try:
            fields[target] = parse(table[key])
        except ValueError as exc:
            raise err(key, str(exc)) from None
    if "above" in table and "below" not in table:
        fields["below"] = None
    if "below" in table and "above" not in table:
        fields["above"] = None
    rule = replace(base, **fields) if base else Rule(name=name, **{"severity": "warning", **fields})
    _check(rule, table, err)
    return rule


def _check(rule: Rule, table: dict[str, Any], err: Any) -> None:
    if rule.event:
        if rule.metric == "confidence" and rule.above is None:
            raise err(None, "critical_anomaly-like rules need above = <confidence level>")
        return
    if (rule.above is None) == (rule.below is None):
        raise err("above" if "above" in table else "below", "give exactly one of above or below")
    try:
        rule.levels()
    except ValueError as exc:
        raise err("clear", str(exc)) from None
    if METRICS[rule.metric].windowed and rule.window_s < 60:
        raise err("window", "window must be at least 1m (the finest aggregate)")


def load_rules(path: Path | None) -> RuleSet:
    """The default rules, changed by the file at ``path`` (if any)."""
    rules = dict(DEFAULT_RULES)
    if path is None:
        return RuleSet(rules)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleFileError(f"alert rules {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleFileError(f"alert rules {path}: {exc}") from None
    unknown = sorted(set(data) - {"rules", "webhooks"})
    if unknown:
        line = _line(text, None, None)
        raise RuleFileError(f"alert rules {path}, line {line}: unknown table [{unknown[0]}]")
    for name, table in (data.get("rules") or {}).items():

        def err(key: str | None, reason: str, _name: str = name) -> RuleFileError:
            return RuleFileError(
                f"alert rules {path}, line {_line(text, _name, key)}: rule {_name!r}: {reason}"
            )

        if not isinstance(table, dict):
            raise err(None, "must be a table")
        if not re.fullmatch(r"[a-z0-9_]{1,64}", name):
            raise err(None, "rule names are [a-z0-9_], 1 to 64 characters")
        rules[name] = _apply(rules.get(name), name, table, err)
    return _with_webhooks(RuleSet(rules), data.get("webhooks") or {}, path, text)


def _with_webhooks(rs: RuleSet, hooks: dict[str, Any], path: Path, text: str) -> RuleSet:
    urls: dict[Severity, str] = {}
    timeout, retries = rs.webhook_timeout_s, rs.webhook_retries
    for key, value in hooks.items():
        key = str(key)
        where = f"alert rules {path}, line {_line(text, None, key)}: [webhooks] {key}"
        if key in SEVERITIES:
            if not isinstance(value, str) or not re.match(r"^https?://[^\s]+$", value):
                raise RuleFileError(f"{where}: an http(s) URL")
            urls[key] = value
        elif key == "timeout":
            try:
                timeout = duration(value)
            except ValueError as exc:
                raise RuleFileError(f"{where}: {exc}") from None
        elif key == "retries":
            if not isinstance(value, int) or not 0 <= value <= 10:
                raise RuleFileError(f"{where}: an integer 0..10")
            retries = value
        else:
            raise RuleFileError(f"{where}: unknown key (critical, warning, info, timeout, retries)")
    return replace(rs, webhooks=urls, webhook_timeout_s=timeout, webhook_retries=retries)


__all__ = [
    "DEFAULT_RULES",
    "METRICS",
    "Metric",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "ScopeKind",
    "duration",
    "load_rules",
]
