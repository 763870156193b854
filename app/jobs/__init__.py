"""Background jobs off the main thread, and keeping the long-running process's heap settled."""
