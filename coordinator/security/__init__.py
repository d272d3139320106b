"""The coordinator's security: API tokens, the audit log, who is enrolled, log hygiene."""
