"""The edge agent: sources, scorers, outbox, uplink, heartbeat.

Runs on numpy, onnxruntime, paho-mqtt and SQLite; never imports scikit-learn, pandas or
FastAPI (``tests/test_agent_imports.py`` checks it).
"""
