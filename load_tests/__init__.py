"""Benchmarks and fault-injection runs that print figures (not part of the test suite)."""
