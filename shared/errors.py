"""The shared error tree.

    EdgewatchError                 root of everything edgewatch raises on purpose
    ├── ConfigError                a setting is missing, malformed or refused
    ├── PayloadError               an MQTT payload was refused; carries a ``reason``
    │   └── TopicError             the topic is not one of ours, or names the wrong agent
    └── ModelError                 a model file is unreadable, unsigned or does not fit

``PayloadError.reason`` is a short, stable token (``json``, ``utf8``, ``too_large``,
``schema``, ``non_finite``, ``ts_range``, ``agent_mismatch`` ...) used as the label of the
``rejected`` counters, so operators can tell bad agents from bad networks at a glance.
"""

from __future__ import annotations


class EdgewatchError(Exception):
    """Root of all errors edgewatch raises deliberately."""


class ConfigError(EdgewatchError):
    """A setting is missing, malformed or refused (a placeholder secret, say)."""


class PayloadError(EdgewatchError):
    """A payload was refused. ``reason`` is the counter label; ``detail`` is for the log."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class TopicError(PayloadError):
    """The topic is not one of ours or does not match the payload."""


class ModelError(EdgewatchError):
    """A model file cannot be used: unreadable, bad signature, wrong features."""
