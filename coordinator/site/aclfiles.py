"""The fallback for brokers without the dynamic-security plugin: ``password_file`` and
``acl_file``, kept by edgewatch in ``DIR/broker/``.

Each identity is one ``passwd`` line and one block of the ``acl`` file, opened by a
``# identity ROLE NAME`` comment so ``remove`` finds it again. The site's listener sets
``use_username_as_clientid true``: the broker replaces whatever client id a client sends
with its username, so no identity can take over another's connection.

What this mode cannot do, unlike the plugin: a change takes effect when the broker
re-reads the files (``reload``: SIGHUP to the pid in ``DIR/broker/mosquitto.pid``, or
``systemctl reload mosquitto``); a removed identity keeps its open connection (every
publish and subscription is refused from then on) until it drops, and cannot log in again.
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from edgewatch.coordinator.site.hashing import hash_password
from edgewatch.coordinator.site.identity import BrokerAuthError, BrokerClient, Identity
from edgewatch.coordinator.site.roles import aclfile_block
from edgewatch.shared.private_files import write_private

log = logging.getLogger(__name__)
MARK = "# identity "
HEADER = (
    "# edgewatch site ACL (Mosquitto acl_file), kept by `edgewatch enroll` and `revoke`.\n"
    "# One block per identity; anything not granted is denied.\n"
)


class FileAuth:
    """``BrokerAuth`` over ``passwd`` and ``acl``; ``pid_file`` names the broker to reload."""

    live = False

    def __init__(self, passwd: Path, acl: Path, pid_file: Path | None = None) -> None:
        self.passwd, self.acl, self.pid_file = passwd, acl, pid_file
        self.reloaded = False  # whether the last change reached a running broker

    def _users(self) -> dict[str, str]:
        if not self.passwd.exists():
            return {}
        lines = self.passwd.read_text(encoding="utf-8").splitlines()
        return {line.split(":", 1)[0]: line for line in lines if ":" in line}

    def _blocks(self) -> dict[str, list[str]]:
        """username -> its block (the ``# identity`` line first)."""
        blocks: dict[str, list[str]] = {}
        current: list[str] | None = None
        text = self.acl.read_text(encoding="utf-8") if self.acl.exists() else ""
        for line in text.splitlines():
            if line.startswith(MARK):
                current = [line]
                blocks[line.split()[-1]] = current
            elif current is not None and line.strip():
                current.append(line)
        return blocks

    def _write(self, users: dict[str, str], blocks: dict[str, list[str]]) -> None:
        write_private(self.passwd, "".join(f"{line}\n" for line in users.values()))
        body = "\n".join("\n".join(b) + "\n" for b in blocks.values())
        write_private(self.acl, HEADER + "\n" + body)

    def add(self, identity: Identity, password: str) -> None:
        users, blocks = self._users(), self._blocks()
        if identity.username in users:
            raise BrokerAuthError(
                f"{identity.username!r} is already a broker identity (an earlier enroll that "
                f"did not finish?): edgewatch revoke {identity.username} first"
            )
        users[identity.username] = hash_password(password).password_file_entry(identity.username)
        block = aclfile_block(identity.username, list(identity.acls))
        blocks[identity.username] = [f"{MARK}{identity.role} {identity.username}", *block]
        self._write(users, blocks)
        self.reload()

    def remove(self, username: str) -> bool:
        users, blocks = self._users(), self._blocks()
        if username not in users:
            return False
        users.pop(username)
        blocks.pop(username, None)
        self._write(users, blocks)
        self.reload()
        return True

    def clients(self) -> list[BrokerClient]:
        blocks = self._blocks()
        out = []
        for name in self._users():
            role = blocks[name][0].split()[2] if name in blocks else "?"
            out.append(BrokerClient(name, name, (f"{role}:{name}",)))
        return out

    def reload(self) -> bool:
        """SIGHUP the broker named by the pid file; False (and a hint) when it is not there.

        Without a pid file (``site init``, before any broker ran) there is nothing to do.
        """
        if self.pid_file is None:
            return False
        try:
            pid = int(self.pid_file.read_text().strip())
            if pid > 0:
                os.kill(pid, signal.SIGHUP)
                self.reloaded = True
                return True
        except (OSError, ValueError):
            pass
        log.warning(
            "broker files changed: reload the broker to apply them "
            "(systemctl reload mosquitto, or kill -HUP its pid)"
        )
        return False
