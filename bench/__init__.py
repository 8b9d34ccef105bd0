"""Benchmarks for sahid (`make bench`); results as JSON under bench/results/."""
