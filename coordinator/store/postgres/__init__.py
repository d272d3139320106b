"""The PostgreSQL store: the same contract as ``store.sqlite``, for one or many replicas.

One module per concern, as in ``store.sqlite``: ``writes`` (the ingest transaction),
``queries`` (readings, counters, agents), ``feed`` (the committed feed, watermarks,
sensor activity), ``plan`` (catalog, placements, desired states, events), with
``migrations`` (numbered, appended, never edited), ``partitions`` (daily partitions of
readings) and ``engine`` (URL, connections, what an error means).

Adding a concern (models, alerts, aggregates, tokens ...): its tables as a new migration
appended to ``MIGRATIONS``, its SQL in a module of its own taking a SQLAlchemy
``Connection``, and thin methods on ``PostgresStore`` (``_transaction`` for writes,
``_read`` for reads); the contract suite (``tests/coordinator/store/test_contract.py``)
then runs the concern's tests against both stores without more wiring.
"""
