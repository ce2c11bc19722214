"""Benchmarks of sakyum-magic against plain Alembic; run them with ``make bench``."""
