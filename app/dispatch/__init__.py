"""Dispatcher commands on the plan: reassign, lock, re-plan proposals, previews, with version checks and undo."""
