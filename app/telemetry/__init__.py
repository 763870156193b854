"""Live telemetry: decode and validate MQTT messages, ingest them, keep the live state."""
