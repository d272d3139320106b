"""Windowed aggregates: tumbling 1 m / 5 m / 15 m / 1 h windows per sensor, type, agent
and fleet, kept incrementally from the committed feed (``consumer``), recomputable from
raw readings (``rebuild``), expired by age (``retention``). See docs/aggregates.md."""
