"""Benchmarks against peers on the same data in the same run (``make bench``); never run by CI."""
