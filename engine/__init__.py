"""Pure planning logic: domain types, travel times, planning, re-planning, ETAs, rules.

No Qt, no SQL, no MQTT: every function here works on plain data (import-linter checks it).
"""
