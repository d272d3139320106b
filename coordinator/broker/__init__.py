"""coordinator/broker."""
