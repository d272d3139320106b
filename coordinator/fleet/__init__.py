"""coordinator/fleet."""
