"""The exception board of the live day and the table model the exceptions pane shows."""
