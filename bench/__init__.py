"""Benchmarks, runnable with ``python -m bench`` (see bench/README.md)."""
