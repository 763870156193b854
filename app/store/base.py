"""The declarative base, constraint naming, and the ``version`` column of mutable rows."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import FromClause, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from app.store.types import JSONType, UTCDateTime

# Stable constraint names, so later migrations can drop or alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """All store tables. Datetimes are aware (UTC); dicts and lists are JSON."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        dict[str, float]: JSONType,
        dict[str, int]: JSONType,
        list[str]: JSONType,
    }


class Versioned:
    """A mutable row: ``version`` starts at 1 and rises with every UPDATE.

    SQLAlchemy adds ``WHERE version = <the version this session read>`` to each UPDATE and
    DELETE; when no row matches, the write was stale and the session raises
    ``StaleVersionError`` instead of overwriting someone else's change.
    """

    if TYPE_CHECKING:
        __table__: ClassVar[FromClause]  # every mapped class that mixes this in has one

    version: Mapped[int] = mapped_column(Integer, nullable=False)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805 - declared_attr takes the class
        return {"version_id_col": cls.__table__.c.version}
