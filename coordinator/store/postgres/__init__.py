"""The PostgreSQL store: the same contract as ``store.sqlite``, for several replicas."""
