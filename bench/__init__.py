"""Benchmarks and load drivers (engine, telemetry, window responsiveness, drag previews); not shipped."""
