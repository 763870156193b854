"""Sequence numbers of one tracker stream: duplicates, back-fill, counter restarts, forged jumps.

The decoder holds one :class:`SeqWindow` per vehicle and source (the only holder: the
live state trusts what the decoder accepted). ``accept(seq, ts)`` answers with one of:

- ``NEW`` — never seen: the next in order, a gap, or a back-filled older one;
- ``DUPLICATE`` — seen already (a QoS 1 duplicate, a replay), or older than the window,
  or above the newest although its time is older (a replay from before a restart);
- ``RESET`` — the tracker's counter restarted: a lower (or equal) seq with a newer time
  than the newest, a ``restart`` flag, or a second fix confirming a new counter after a
  jump. The window starts again from it; nothing is locked out. The window of the counter
  before keeps judging fixes older than the restart (a late back-fill, or a replay of
  them, which it knows as seen);
- ``JUMP`` — far more ahead than the time since the newest allows (``seq`` 2^62 after
  1,234): refused, and the window stays where it was, so one forged fix cannot lock the
  real tracker out. A second fix continuing the jumped counter is taken as a restart.
"""

from __future__ import annotations

SEQ_MAX = 2**63 - 1  # a signed 64-bit integer: what every database stores
SEQ_WINDOW = 4096  # sequence numbers remembered per stream (back-fill reach)
SEQ_RATE = 100  # how far a seq may run ahead per second of the sender's clock
REPLAY_AGE_S = 60.0  # a higher seq this much older than the newest is a replay, not jitter
_SEQ_MASK = (1 << SEQ_WINDOW) - 1

NEW, DUPLICATE, RESET, JUMP = 0, 1, 2, 3


class SeqWindow:
    """The sequence numbers seen of one stream within the last SEQ_WINDOW values.

    Kept as the *holes* between the first seq of the run (``start``) and ``max_seq`` (bit
    k set: ``max_seq - k`` not seen yet), so an in-order stream shifts a zero, not a
    SEQ_WINDOW-bit number; seqs back-filled from below ``start`` go into a small set.
    ``top_ts`` is the time of ``max_seq``'s fix. The in-order case may be done inline by
    a caller: ``max_seq = seq; top_ts = ts`` when ``seq == max_seq + 1 and not holes``.
    """

    __slots__ = (
        "max_seq", "top_ts", "start", "holes", "below", "jumped", "resets", "before", "reset_ts"
    )  # fmt: skip

    def __init__(self) -> None:
        self.max_seq = -1
        self.top_ts = float("-inf")
        self.start = 0
        self.holes = 0
        self.below: set[int] | None = None
        self.jumped: tuple[int, float] | None = None  # a refused jump, awaiting a second
        self.resets = 0
        self.before: SeqWindow | None = None  # the counter before the last restart
        self.reset_ts = float("-inf")  # the time of the last restart

    def accept(self, seq: int, ts: float, restart: bool = False) -> int:
        """Judge and (unless refused) record ``seq`` of a fix at time ``ts``."""
        top = self.max_seq
        if top < 0:
            self._restart(seq, ts)
            return NEW
        if ts < self.reset_ts and self.before is not None:  # the counter before the restart
            before = self.before
            if seq > before.max_seq:
                before.advance(seq, ts)
                return NEW
            return NEW if before._backfill(seq) else DUPLICATE
        if ts > self.top_ts and (restart or seq <= top):
            self._reset(seq, ts)
            return RESET
        if seq > top:
            if ts < self.top_ts - REPLAY_AGE_S:
                return DUPLICATE
            if seq - top > SEQ_WINDOW + SEQ_RATE * max(ts - self.top_ts, 0.0):
                jumped = self.jumped
                if jumped is not None and 0 < seq - jumped[0] <= SEQ_WINDOW and ts > jumped[1]:
                    self._reset(seq, ts)
                    return RESET
                self.jumped = (seq, ts)
                return JUMP
            self.advance(seq, ts)
            return NEW
        return NEW if self._backfill(seq) else DUPLICATE

    def advance(self, seq: int, ts: float) -> None:
        """Move the top to ``seq`` (above ``max_seq``, within the window's reach)."""
        shift = seq - self.max_seq
        if shift >= SEQ_WINDOW:
            self.start, self.holes, self.below = seq, 0, None
        elif shift == 1:
            if self.holes:
                self.holes = (self.holes << 1) & _SEQ_MASK
        else:
            self.holes = ((self.holes << shift) | ((1 << shift) - 2)) & _SEQ_MASK
        self.max_seq, self.top_ts, self.jumped = seq, ts, None

    def _reset(self, seq: int, ts: float) -> None:
        """A new counter from ``seq``; the old one kept for fixes older than ``ts``."""
        before = SeqWindow()
        before.max_seq, before.top_ts, before.start = self.max_seq, self.top_ts, self.start
        before.holes, before.below = self.holes, self.below
        self.before, self.reset_ts = before, ts
        self.resets += 1
        self._restart(seq, ts)

    def _restart(self, seq: int, ts: float) -> None:
        self.max_seq, self.top_ts, self.start = seq, ts, seq
        self.holes, self.below, self.jumped = 0, None, None

    def _backfill(self, seq: int) -> bool:
        top = self.max_seq
        back = top - seq
        if back >= SEQ_WINDOW:
            return False
        if seq >= self.start:
            mask = 1 << back
            if not self.holes & mask:
                return False
            self.holes ^= mask
            return True
        below = self.below
        if below is None:
            below = self.below = set()
        elif seq in below:
            return False
        below.add(seq)
        if len(below) > SEQ_WINDOW:
            self.below = {s for s in below if top - s < SEQ_WINDOW}
        return True
