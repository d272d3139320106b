"""``edgewatch status --api URL``: the fleet in a terminal, and whether it needs anyone.

report   what the API says, reduced to rows and the things that need attention (pure)
table    the rows as a terminal table
cli      flags, the one-shot and ``--watch`` loops, exit codes
"""
