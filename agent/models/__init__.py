"""The agent's model lifecycle: trusted keys, verification, the on-disk store of pushed
models, shadow scoring, and the manager that carries out the desired state's model
orders (fetch over MQTT, verify, store, hot swap, keep the previous for rollback)."""
