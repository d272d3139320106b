"""coordinator/ingest."""
