"""Benchmarks behind ``edgewatch bench KIND``; each lives beside the code it measures."""
