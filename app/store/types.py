"""Column types that behave the same on SQLite and PostgreSQL.

- ``UTCDateTime``: timezone-aware datetimes in and out. Stored as UTC (``timestamptz`` on
  PostgreSQL, naive UTC text on SQLite); naive datetimes are refused, because a time without
  an offset is ambiguous in a depot that spans a daylight-saving change.
- ``JSONType``: JSON on SQLite, JSONB on PostgreSQL.
- ``TxId``: the PostgreSQL ``xid8`` of the writing transaction, read back as an ``int``
  (an ordinary integer on SQLite, where writers are serialised).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

_from_iso = datetime.fromisoformat

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored in UTC, returned aware (UTC) on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"refusing to store the naive datetime {value.isoformat()}: "
                "give it a time zone (times are stored in UTC)"
            )
        utc = value.astimezone(UTC)
        # SQLite keeps text without an offset: store naive UTC, re-attach UTC on the way out.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general

        def process(value: Any) -> datetime | None:
            # SQLite's naive UTC text read in one step, UTC given in the text: a day's
            # first KPI pass reads a few hundred thousand times (stop events, windows).
            if value.__class__ is str:
                try:
                    parsed = _from_iso(value + "+00:00")
                except ValueError:  # text with an offset of its own: the general way
                    pass
                else:
                    if parsed.tzinfo is not None:  # a date alone drops the offset given
                        return parsed
            result: datetime | None = general(value)
            return result

        return process


class _PgXid8(UserDefinedType):
    """PostgreSQL's 64-bit transaction id type."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "XID8"


class TxId(TypeDecorator[int]):
    """A transaction id: ``xid8`` on PostgreSQL, an integer elsewhere; read as ``int``."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(_PgXid8())
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(int(value)) if dialect.name == "postgresql" else int(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)
