"""``edgewatch report --db PATH --out report.png``: the analytics figure, from the store.

data     what the figure shows, read from the aggregates (never every reading)
figure   the panels, drawn with matplotlib into one PNG
cli      flags, the time range, progress
"""
