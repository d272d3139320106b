"""coordinator/store/sqlite."""
