"""Store errors. Plain exceptions (no SQLAlchemy import), so every layer may catch them."""

from __future__ import annotations


class StaleVersionError(Exception):
    """A write was based on a version of a row that has moved on (or been deleted).

    Someone else changed the row since it was read; the write is refused instead of silently
    overwriting their change. Reload, look at the new state, and decide again.
    """

    def __init__(
        self, entity: str, id: str, expected_version: int | None, actual_version: int | None
    ) -> None:
        self.entity = entity
        self.id = id
        self.expected_version = expected_version
        self.actual_version = actual_version
        if actual_version is None:
            now = "it has been deleted since"
        else:
            now = f"the stored row is now at version {actual_version}"
        super().__init__(
            f"{entity} {id!r} was changed by someone else: this edit was based on version "
            f"{expected_version}, but {now}. Reload it and try again."
        )


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to what this version of the program needs."""
