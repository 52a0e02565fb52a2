"""Neuro's benchmarks: `python -m bench [NAME...] [--quick] [--check]` (see ../shared/BENCH.md)."""
