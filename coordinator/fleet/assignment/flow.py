"""A small min-cost max-flow solver, for the placements that must move the fewest sensors.

Successive shortest paths with Dijkstra on reduced costs (Johnson potentials, seeded by
Bellman-Ford because some costs are negative). Besides plain edges, an edge may have a
*convex* cost: the k-th unit through it costs ``marginal(k)``, non-decreasing in k. It
stands for a bundle of unit edges of rising cost, so the residual graph only needs the
cheapest unit forward (``marginal(flow + 1)``) and the dearest one back
(``-marginal(flow)``), and a path through it carries one unit.

The networks here are small (a few nodes per agent and tier), so a pure-Python solver
is fast enough and keeps the coordinator free of a graph library.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

Marginal = Callable[[int], int]


@dataclass(slots=True)
class _Edge:
    tail: int
    head: int
    capacity: int
    cost: int
    marginal: Marginal | None
    flow: int = 0

    def forward(self) -> tuple[int, int]:
        """(units that can be pushed at the next unit's cost, that cost)."""
        if self.flow >= self.capacity:
            return 0, 0
        if self.marginal is None:
            return self.capacity - self.flow, self.cost
        return 1, self.marginal(self.flow + 1)

    def backward(self) -> tuple[int, int]:
        """(units that can be pulled back at the last unit's refund, minus that refund)."""
        if self.flow <= 0:
            return 0, 0
        if self.marginal is None:
            return self.flow, -self.cost
        return 1, -self.marginal(self.flow)


class FlowNetwork:
    """A directed network of ``nodes`` nodes, numbered from 0."""

    def __init__(self, nodes: int) -> None:
        self._edges: list[_Edge] = []
        self._out: list[list[int]] = [[] for _ in range(nodes)]  # edge ids leaving a node
        self._in: list[list[int]] = [[] for _ in range(nodes)]  # edge ids entering it

    def add_edge(self, tail: int, head: int, capacity: int, cost: int = 0) -> int:
        """An edge whose every unit costs ``cost``; returns its id."""
        return self._add(_Edge(tail, head, capacity, cost, None))

    def add_convex(self, tail: int, head: int, capacity: int, marginal: Marginal) -> int:
        """An edge whose k-th unit costs ``marginal(k)`` (non-decreasing); returns its id."""
        return self._add(_Edge(tail, head, capacity, 0, marginal))

    def _add(self, edge: _Edge) -> int:
        self._edges.append(edge)
        self._out[edge.tail].append(len(self._edges) - 1)
        self._in[edge.head].append(len(self._edges) - 1)
        return len(self._edges) - 1

    def flow(self, edge_id: int) -> int:
        return self._edges[edge_id].flow

    def solve(self, source: int, sink: int) -> int:
        """Push as much flow as possible from source to sink at least cost; returns it."""
        potential = self._bellman_ford(source)
        total = 0
        while True:
            dist, parent = self._dijkstra(source, potential)
            if sink not in dist:
                return total
            for node, d in dist.items():
                potential[node] += d
            total += self._augment(source, sink, parent)

    def _residual(self, node: int) -> list[tuple[int, int, int, int, bool]]:
        """(edge id, other node, units, cost, forward) for every residual arc out of node."""
        arcs = []
        for e in self._out[node]:
            units, cost = self._edges[e].forward()
            if units:
                arcs.append((e, self._edges[e].head, units, cost, True))
        for e in self._in[node]:
            units, cost = self._edges[e].backward()
            if units:
                arcs.append((e, self._edges[e].tail, units, cost, False))
        return arcs

    def _bellman_ford(self, source: int) -> list[int]:
        """Shortest distances from source before any flow (0 where unreachable)."""
        nodes = len(self._out)
        dist: dict[int, int] = {source: 0}
        for _ in range(nodes):
            changed = False
            for node in sorted(dist):
                for _, head, _, cost, _ in self._residual(node):
                    if head not in dist or dist[node] + cost < dist[head]:
                        dist[head] = dist[node] + cost
                        changed = True
            if not changed:
                break
        return [dist.get(n, 0) for n in range(nodes)]

    def _dijkstra(
        self, source: int, potential: list[int]
    ) -> tuple[dict[int, int], dict[int, tuple[int, bool]]]:
        """Reduced distances of the reachable nodes, and the arc each was reached by."""
        dist: dict[int, int] = {source: 0}
        parent: dict[int, tuple[int, bool]] = {}
        done: set[int] = set()
        heap = [(0, source)]
        while heap:
            d, node = heapq.heappop(heap)
            if node in done:
                continue
            done.add(node)
            for e, other, _, cost, forward in self._residual(node):
                nd = d + cost + potential[node] - potential[other]
                if other not in done and (other not in dist or nd < dist[other]):
                    dist[other] = nd
                    parent[other] = (e, forward)
                    heapq.heappush(heap, (nd, other))
        return dist, parent

    def _augment(self, source: int, sink: int, parent: dict[int, tuple[int, bool]]) -> int:
        path = []
        node = sink
        while node != source:
            e, forward = parent[node]
            path.append((e, forward))
            edge = self._edges[e]
            node = edge.tail if forward else edge.head
        units = min(
            (self._edges[e].forward() if fw else self._edges[e].backward())[0] for e, fw in path
        )
        for e, forward in path:
            self._edges[e].flow += units if forward else -units
        return units
