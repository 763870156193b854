"""Background jobs off the main thread (the runner, the day's jobs with a typed result per kind) and keeping the long-running process's heap settled."""
