"""The desks a supervisor's control tower lists: each desk's last heartbeat, and the demo
fleet a desk drives (its broker and simulated clock) for the other desks of its depot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.store.base import Base
from app.store.models_day import ID


class DeskRow(Base):
    """One desk (a user at a workstation: two people may work on one machine): which depot,
    when last heard of, how much waits in its outbox, and the demo fleet it drives."""

    __tablename__ = "desk"

    workstation: Mapped[str] = mapped_column(String(200), primary_key=True)
    user: Mapped[str] = mapped_column(String(200), primary_key=True, default="")
    role: Mapped[str] = mapped_column(String(40), nullable=False, default="")
    depot_id: Mapped[str] = mapped_column(ID, nullable=False, default="", index=True)
    seen_at: Mapped[datetime] = mapped_column(nullable=False)
    outbox_pending: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # The demo fleet this desk simulates (all None when it simulates none): the broker its
    # vehicles publish to, and its simulated clock, which read ``demo_clock_start`` at the
    # wall-clock moment ``demo_clock_wall`` and runs ``demo_speedup`` times real time.
    demo_broker_url: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    demo_clock_start: Mapped[datetime | None] = mapped_column(nullable=True)
    demo_clock_wall: Mapped[datetime | None] = mapped_column(nullable=True)
    demo_speedup: Mapped[float | None] = mapped_column(Float, nullable=True)
