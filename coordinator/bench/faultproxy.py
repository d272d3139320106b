"""A TCP proxy that breaks the uplink on demand, the way networks break.

Put it between an MQTT client and the broker (client -> ``proxy.port`` -> broker) and
cut the link in one of two ways:

* ``blackhole()``: the **silent** cut (a cable pulled two hops away, a NAT entry gone).
  Nothing is forwarded and nothing more is read, but every socket stays open, so neither
  side gets a FIN or RST; only keepalive timers can notice. New connections are accepted
  (the kernel completes the handshake anyway) and held unanswered.
* ``reset()``: the **loud** cut (a middlebox or the peer's kernel refuses the flow).
  Every connection is aborted with RST on both sides (``SO_LINGER`` 0) and new ones are
  reset as soon as they arrive, until ``restore()``.

``restore()`` forwards again. Bytes held during a blackhole are delivered then, as TCP
retransmission would after a short partition; a side that gave up meanwhile has closed
its socket, so the proxy sees EOF and closes the other side too.

    >>> proxy = FaultProxy("127.0.0.1", broker.port).start()
    >>> client.connect("127.0.0.1", proxy.port)
    >>> proxy.blackhole(); time.sleep(5); proxy.restore()
    >>> flapper = proxy.flap((1, 5), (1, 5), duration_s=60, seed=7)
    >>> flapper.join()

One thread accepts, two threads per connection pump bytes; everything is on 127.0.0.1.
"""

from __future__ import annotations

import logging
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Mode = Literal["up", "blackhole", "reset"]
log = logging.getLogger(__name__)
_CHUNK = 65536
# fault_proxy(target_host, target_port) -> a started FaultProxy
ProxyFactory = Callable[[str, int], "FaultProxy"]


def _abort(sock: socket.socket) -> None:
    """Close with RST: SO_LINGER on with a zero timeout makes close() abort the flow."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # SHUT_RD wakes a thread blocked in recv() on this socket without sending a FIN.
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        log.debug("abort: socket already gone", exc_info=True)
    sock.close()


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        log.debug("close: socket already gone", exc_info=True)
    sock.close()


@dataclass(frozen=True)
class ProxyStats:
    """Counters since ``start()``; ``cuts`` counts blackhole/reset calls."""

    connections_accepted: int
    connections_reset: int
    connections_active: int
    bytes_upstream: int
    bytes_downstream: int
    cuts: int

    @property
    def bytes_forwarded(self) -> int:
        return self.bytes_upstream + self.bytes_downstream


class _Connection:
    """A client socket, its upstream twin once connected, and a one-way closed flag."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = False

    def close(self, rst: bool) -> None:
        if self.closed:
            return
        self.closed = True
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if rst:
                _abort(sock)
            else:
                _close(sock)


class FaultProxy:
    """TCP proxy from ``127.0.0.1:port`` to ``target_host:target_port`` with fault modes."""

    def __init__(self, target_host: str, target_port: int, listen_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self._listener = socket.create_server((listen_host, 0))
        self._listener.settimeout(0.05)  # accept() polls so stop() needs no wake-up trick
        self.host = listen_host
        self.port: int = self._listener.getsockname()[1]
        self._cond = threading.Condition()
        self._mode: Mode = "up"
        self._stopping = False
        self._conns: list[_Connection] = []
        self._threads: list[threading.Thread] = []
        self._accepted = self._reset_count = self._up_bytes = self._down_bytes = self._cuts = 0

    # -- control -----------------------------------------------------------------------

    @property
    def mode(self) -> Mode:
        return self._mode

    def start(self) -> FaultProxy:
        self._thread(self._accept_loop, "faultproxy-accept")
        return self

    def blackhole(self) -> None:
        """Silent cut: stop forwarding and reading both ways; keep every socket open."""
        with self._cond:
            self._mode = "blackhole"
            self._cuts += 1
            self._cond.notify_all()

    def reset(self) -> None:
        """Loud cut: RST every connection now and every new one until ``restore()``."""
        with self._cond:
            self._mode = "reset"
            self._cuts += 1
            doomed, self._conns = self._conns, []
            self._reset_count += len(doomed)
            self._cond.notify_all()
        for conn in doomed:
            conn.close(rst=True)

    def restore(self) -> None:
        """Forward again: held connections resume, new ones are proxied."""
        with self._cond:
            self._mode = "up"
            self._cond.notify_all()

    def stop(self) -> None:
        """Close everything (with RST, so no client waits on a half-dead socket)."""
        with self._cond:
            self._stopping = True
            conns, self._conns = self._conns, []
            self._cond.notify_all()
        for conn in conns:
            conn.close(rst=True)
        for t in self._threads:
            t.join(5)
        self._listener.close()

    def stats(self) -> ProxyStats:
        with self._cond:
            return ProxyStats(
                connections_accepted=self._accepted,
                connections_reset=self._reset_count,
                connections_active=len(self._conns),
                bytes_upstream=self._up_bytes,
                bytes_downstream=self._down_bytes,
                cuts=self._cuts,
            )

    def flap(
        self,
        down_range_s: tuple[float, float],
        up_range_s: tuple[float, float],
        duration_s: float,
        seed: int,
        how: Literal["blackhole", "reset"] = "blackhole",
    ) -> Flapper:
        """Cut and restore at random intervals for ``duration_s`` in a background thread."""
        flapper = Flapper(self, down_range_s, up_range_s, duration_s, seed, how)
        flapper.start()
        return flapper

    # -- threads -----------------------------------------------------------------------

    def _thread(self, target: object, name: str, *args: object) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)  # type: ignore[arg-type]
        self._threads.append(t)
        t.start()

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            conn = _Connection(client)
            with self._cond:
                self._accepted += 1
                refuse = self._mode == "reset" or self._stopping
                if refuse:
                    self._reset_count += 1
                else:
                    self._conns.append(conn)
            if refuse:
                conn.close(rst=True)
                continue
            self._thread(self._serve, f"faultproxy-conn-{self._accepted}", conn)

    def _wait_up(self, conn: _Connection) -> bool:
        """Block while the link is cut; False once this connection is gone."""
        with self._cond:
            self._cond.wait_for(lambda: self._mode == "up" or conn.closed or self._stopping)
            return not (conn.closed or self._stopping)

    def _serve(self, conn: _Connection) -> None:
        # A connection that arrives during a blackhole is held here, unanswered.
        if not self._wait_up(conn):
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            log.info("faultproxy: target %s:%d refused", *self.target)
            self._drop(conn, rst=True)
            return
        upstream.settimeout(None)
        conn.upstream = upstream
        if conn.closed:  # reset() ran while we were connecting
            _abort(upstream)
            return
        self._thread(self._pump, "faultproxy-down", conn, upstream, conn.client, False)
        self._pump(conn, conn.client, upstream, True)

    def _pump(self, conn: _Connection, src: socket.socket, dst: socket.socket, up: bool) -> None:
        while self._wait_up(conn):
            try:
                data = src.recv(_CHUNK)
            except OSError:
                break
            if not data:
                break
            # A chunk read just before a cut is held like a packet in flight.
            if not self._wait_up(conn):
                return
            try:
                dst.sendall(data)
            except OSError:
                break
            with self._cond:
                if up:
                    self._up_bytes += len(data)
                else:
                    self._down_bytes += len(data)
        self._drop(conn, rst=False)

    def _drop(self, conn: _Connection, rst: bool) -> None:
        with self._cond:
            if conn in self._conns:
                self._conns.remove(conn)
        conn.close(rst=rst)


class Flapper:
    """Background down/up cycling of a ``FaultProxy``; ``join()`` waits for the end."""

    def __init__(
        self,
        proxy: FaultProxy,
        down_range_s: tuple[float, float],
        up_range_s: tuple[float, float],
        duration_s: float,
        seed: int,
        how: Literal["blackhole", "reset"],
    ) -> None:
        self.proxy = proxy
        self.down_range_s = down_range_s
        self.up_range_s = up_range_s
        self.duration_s = duration_s
        self.how = how
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="faultproxy-flap", daemon=True)
        self.cycles = 0
        self.down_s = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End early; the proxy is left up."""
        self._stop.set()
        self.join()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        end = time.monotonic() + self.duration_s
        try:
            while not self._stop.is_set() and time.monotonic() < end:
                down = self._rng.uniform(*self.down_range_s)
                if self.how == "blackhole":
                    self.proxy.blackhole()
                else:
                    self.proxy.reset()
                self.cycles += 1
                self._stop.wait(min(down, max(0.0, end - time.monotonic())))
                self.down_s += down
                self.proxy.restore()
                self._stop.wait(self._rng.uniform(*self.up_range_s))
        finally:
            # Whatever happened, a flap never leaves the link cut behind it.
            self.proxy.restore()
