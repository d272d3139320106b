"""``shared.files``: atomic writes, and an exclusive create for files replicas share."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from edgewatch.shared.files import create_atomic, write_atomic


def test_write_atomic_replaces_with_the_mode_from_the_start(tmp_path: Path) -> None:
    path = tmp_path / "d" / "secret"
    write_atomic(path, b"one", mode=0o600)
    write_atomic(path, b"two", mode=0o600)
    assert path.read_bytes() == b"two" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary left


def test_create_atomic_never_replaces_and_one_of_many_racers_wins(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert create_atomic(path, b"first", mode=0o600)
    assert not create_atomic(path, b"second", mode=0o600)
    assert path.read_bytes() == b"first"
    # Eight writers at once (as replicas sharing a volume): exactly one claims the name.
    race = tmp_path / "race"
    won: list[bytes] = []
    start = threading.Barrier(8)

    def claim(i: int) -> None:
        start.wait()
        if create_atomic(race / "key", f"{i}".encode()):
            won.append(f"{i}".encode())

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and (race / "key").read_bytes() == won[0]


def test_create_atomic_works_where_hard_links_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:  # vfat, some network and FUSE mounts
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    path = tmp_path / "key"
    assert create_atomic(path, b"first", mode=0o600)
    assert not create_atomic(path, b"second", mode=0o600)
    assert path.read_bytes() == b"first" and path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary left
