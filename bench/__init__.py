"""Benchmarks, each a module run from the repository root: ``.venv/bin/python -m bench.NAME --help``."""
