"""Utilities for measuring: the loading and inference-memory benchmarks' bodies and the
helpers every benchmark shares (memory readings, the channels-last input hook)."""
