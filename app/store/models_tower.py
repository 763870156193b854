"""The desks a supervisor's control tower lists: each desk's last heartbeat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base
from app.store.models_day import ID


class DeskRow(Base):
    """One workstation: who, which depot, when last heard of, how much waits in its outbox."""

    __tablename__ = "desk"

    workstation: Mapped[str] = mapped_column(String(200), primary_key=True)
    user: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    role: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    depot_id: Mapped[str] = mapped_column(ID, nullable=False, default="", index=True)
    seen_at: Mapped[datetime] = mapped_column(nullable=False)
    outbox_pending: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
