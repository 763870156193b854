"""Sharing one day between workstations: follow others' changes, work offline, replay.

``follower.ChangeFollower`` keeps a workstation up to date from the shared database;
``offline.OfflineDesk`` works on a local SQLite copy with an ``outbox`` that
``service.SyncService`` replays to the shared database without losing or repeating a
command; ``session.SyncSession`` carries what the sync thread reports to the GUI thread and
``link.SyncLink`` ties it to the day state (catch-ups, conflicts, editors, status labels).
"""
