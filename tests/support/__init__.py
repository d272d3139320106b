"""The test harness: real brokers, real processes, real sockets, and the ledger.

    mosquitto.py    MosquittoProcess: the real broker on a free port, killable, restartable
    faultproxy.py   FaultProxy: a TCP proxy that cuts the link silently or with a reset
    procs.py        spawn / ProcGroup: edgewatch processes as subprocesses with log files;
                    free_port, wait_until
    ledger.py       generated vs stored: lost, duplicates, reordered, unexpected
                    (a SQLite file or a PostgreSQL URL)
    postgres.py     temp_database() on the local server; PgCluster: initdb + pg_ctl
    stores.py       store_location / pg_url fixtures over every store kind

The fixtures that wrap them live in ``tests/conftest.py``.
"""
