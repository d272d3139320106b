"""A secure site: its PKI, its broker config, and the identities enrolled in it."""
