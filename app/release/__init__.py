"""Release control: the readiness gate, dock slots and waves, loading from the dock, and the routes sent to the drivers."""
