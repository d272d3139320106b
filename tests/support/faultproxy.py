"""The fault proxy lives with the benchmarks (``edgewatch bench fleet`` cuts links with it
too); tests import it from here, as they always have."""

from edgewatch.coordinator.bench.faultproxy import FaultProxy, Mode, ProxyFactory

__all__ = ["FaultProxy", "Mode", "ProxyFactory"]
