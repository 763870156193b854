"""What makes the workstation run, without drawing: settings, store, telemetry, services."""
