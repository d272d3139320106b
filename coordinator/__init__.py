"""The coordinator: ingest, store, fleet, training, alerts, REST API, dashboard."""
