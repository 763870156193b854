"""Sharing one day between workstations: follow others' changes, work offline, replay.

``follower.ChangeFollower`` keeps a workstation up to date from the shared database;
``offline.OfflineDesk`` works on a local SQLite copy with an outbox that ``outbox.replay``
brings to the shared database without losing or repeating a command.
"""
