"""The alert engine: rules with hysteresis, silences, a lifecycle with history, MQTT and
webhooks. See docs/alerts.md; the hysteresis itself lives in ``shared.alert_rules`` so
the edge runs the same code."""
