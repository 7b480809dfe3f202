"""Auditing runs: the trail of every decision, and ``replay --check``."""
