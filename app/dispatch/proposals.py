"""A dispatcher's proposal: a change their role may not make, sent to a supervisor.

    desk = ProposalDesk(service)                       # over the DispatchService
    sent = desk.propose_move(plan, day, ["O7"], "R-V3", now)      # a dispatcher's drag
    sent = desk.propose_replan(plan, proposal, scope)             # a fleet re-plan
    desk.list(depot_id, day)                           # the day's proposals, newest first
    result = desk.accept(plan, day, sent.id, now)      # supervisor: applied as their command
    desk.reject(sent.id, note="V3 is needed for the afternoon wave")

A proposal is stored (``proposal`` table) with who sent it and when, what it does (a move's
orders and target route; a re-plan's routes, dropped routes and unassigned orders) and its
effect as the sender saw it (summary, lateness and distance before and after), every step
in the change log. Accepting applies it as the supervisor's own undoable command — version
checked against the routes *as the proposal saw them*: if someone changed them since, it is
refused and stays pending (reject it, or ask for a new one) — and marks it accepted in the
same transaction. Rejecting and withdrawing (its author) only mark it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from app.dispatch.service import CommandResult, DispatchService, NotAllowed, ReplanScope
from app.dispatch.store import CommandRefused
from app.store import StaleVersionError, repository
from app.store import repository_orders as proposals_repo
from app.store.convert import route_from_snapshot, route_snapshot
from app.store.repository_orders import (
    ACCEPTED,
    PENDING,
    REJECTED,
    WITHDRAWN,
    StoredProposal,
)
from engine.model import DayInput, Plan, Unassigned, UnassignedReason
from engine.planning import Proposal

log = logging.getLogger(__name__)

MOVE, REPLAN = "move", "replan"

__all__ = ["ACCEPTED", "MOVE", "PENDING", "REJECTED", "REPLAN", "WITHDRAWN", "ProposalDesk",
           "StoredProposal"]  # fmt: skip


class ProposalDesk:
    """Send, list and decide proposals for one user in one role (the service's)."""

    def __init__(self, service: DispatchService) -> None:
        self.service = service

    @property
    def actor(self) -> str:
        return self.service.actor

    def _versions(self, plan: Plan, route_ids: Sequence[str]) -> dict[str, int]:
        """The versions of ``route_ids`` as ``plan`` was shown (read now if not known)."""
        known = self.service.versions_of(plan)
        if known is None:
            with self.service.store.read_session() as s:
                known = repository.route_versions(s, plan.depot_id, plan.day)
        return {rid: known[rid] for rid in route_ids if rid in known}

    def _local_only(self) -> None:
        if self.service.queues_commands:  # the outbox does not carry proposals yet
            raise CommandRefused(
                "proposals are not sent to the shared database by this version; nothing was "
                "stored (ask a supervisor to make the change)"
            )

    def _store(self, item: StoredProposal) -> StoredProposal:
        self._local_only()
        with self.service.store.session() as s:
            return proposals_repo.add_proposal(s, item)

    # -- send -----------------------------------------------------------------------------
    def propose_move(
        self,
        plan: Plan,
        day: DayInput,
        order_ids: Sequence[str],
        target_route_id: str,
        now: datetime | None = None,
    ) -> StoredProposal:
        """Store a move of stops for a supervisor (the same preview a drag shows)."""
        preview = self.service.propose(plan, day, order_ids, target_route_id, now)
        if preview.blocked:
            raise CommandRefused("Cannot propose: " + "; ".join(preview.blocked))
        target = preview.target
        assert target is not None
        touched = [r.id for r in preview.routes]
        label = f"Move {', '.join(preview.order_ids)} to {target.vehicle_id}"
        effect = {
            "summary": preview.summary,
            "feasible": preview.feasible,
            "lateness_min": [
                round(sum(i.lateness_before_s for i in (target, *preview.sources)) / 60, 1),
                round(sum(i.lateness_after_s for i in (target, *preview.sources)) / 60, 1),
            ],
            "distance_km": [
                round(sum(i.distance_before_m for i in (target, *preview.sources)) / 1000, 2),
                round(sum(i.distance_after_m for i in (target, *preview.sources)) / 1000, 2),
            ],
        }
        payload = {"orders": list(preview.order_ids), "target_route_id": target_route_id}
        return self._store(self._new(plan, MOVE, label, effect, payload,
                                     self._versions(plan, touched)))  # fmt: skip

    def propose_replan(
        self, plan: Plan, proposal: Proposal, scope: ReplanScope | None = None
    ) -> StoredProposal:
        """Store a re-plan (the routes it changes in full) for a supervisor."""
        new = proposal.plan
        if new.id != plan.id:
            raise CommandRefused(f"the re-plan is for plan {new.id}, not {plan.id}")
        old = {r.id: r for r in plan.routes}
        changed = [r for r in new.routes if old.get(r.id) != r]
        gone = [rid for rid in old if rid not in {r.id for r in new.routes}]
        late = (proposal.lateness_before_s / 60, proposal.lateness_after_s / 60)
        km = (proposal.distance_before_m / 1000, proposal.distance_after_m / 1000)
        what = f"{len(scope.route_ids)} route(s)" if scope else "the fleet"
        label = f"Re-plan {what} ({len(proposal.moved)} stops moved)"
        summary = (f"Lateness {late[0]:.0f} → {late[1]:.0f} min · distance {km[0]:.1f} → "
                   f"{km[1]:.1f} km · {len(proposal.moved)} moved")  # fmt: skip
        if proposal.duration_before_s or proposal.duration_after_s:
            hours = (proposal.duration_before_s / 3600, proposal.duration_after_s / 3600)
            summary += f" · driver time {hours[0]:.1f} → {hours[1]:.1f} h"
        if proposal.unassigned:
            summary += f" · {len(proposal.unassigned)} left unassigned"
        summary += "".join(f" · {note}" for note in proposal.notes)
        effect = {
            "summary": summary,
            "feasible": proposal.feasible,
            "lateness_min": [round(late[0], 1), round(late[1], 1)],
            "distance_km": [round(km[0], 2), round(km[1], 2)],
            "moved": [m.order_id for m in proposal.moved],
            "unassigned": [u.order_id for u in proposal.unassigned],
        }
        payload = {
            "routes": [route_snapshot(r) for r in changed],
            "drop": gone,
            "unassigned": [[u.order_id, str(u.reason), u.detail] for u in new.unassigned],
            "scope": sorted(scope.route_ids) if scope else None,
            "exception_id": scope.exception_id if scope else "",
            "moved": effect["moved"],
            "lateness_s": [proposal.lateness_before_s, proposal.lateness_after_s],
            "distance_m": [proposal.distance_before_m, proposal.distance_after_m],
            "duration_s": [proposal.duration_before_s, proposal.duration_after_s],
            "cost": [proposal.cost_before, proposal.cost_after],
            "notes": list(proposal.notes),
        }
        checked = list(old) if scope is None else [*sorted(scope.route_ids), *gone]
        return self._store(self._new(plan, REPLAN, label, effect, payload,
                                     self._versions(plan, checked)))  # fmt: skip

    def _new(self, plan, kind, label, effect, payload, versions) -> StoredProposal:
        return StoredProposal(
            id=uuid.uuid4().hex, depot_id=plan.depot_id, day=plan.day, kind=kind, label=label,
            author=self.actor, author_role=self.service.role, created_at=self.service.store.now(),
            effect=effect, payload=payload, base_versions=versions,
        )  # fmt: skip

    # -- read -----------------------------------------------------------------------------
    def list(self, depot_id: str, day: date, statuses: Sequence[str] | None = None):
        """The day's proposals, newest first."""
        with self.service.store.read_session() as s:
            return proposals_repo.list_proposals(s, depot_id, day, statuses)

    def get(self, proposal_id: str) -> StoredProposal:
        with self.service.store.read_session() as s:
            return proposals_repo.get_proposal(s, proposal_id)

    # -- decide ---------------------------------------------------------------------------
    def _require_supervisor(self, what: str) -> None:
        if not self.service.is_supervisor:
            raise NotAllowed(f"{what} is a supervisor action; {self.actor} works as "
                             f"{self.service.role}.")  # fmt: skip

    def accept(
        self, plan: Plan, day: DayInput, proposal_id: str, now: datetime | None = None
    ) -> CommandResult:
        """Apply the proposal as this supervisor's command and mark it accepted, together.
        Refused (and left pending) when its routes changed since it was made."""
        self._require_supervisor("Accepting a proposal")
        item = self.get(proposal_id)
        if not item.pending:
            raise CommandRefused(f"this proposal was already {item.status} by {item.decided_by}")
        if item.day != plan.day or item.depot_id != plan.depot_id:
            raise CommandRefused(f"the proposal is for {item.depot_id} on {item.day}")
        self._check_base(plan, item)

        def mark(session, _record) -> None:
            proposals_repo.decide_proposal(session, item.id, ACCEPTED, actor=self.actor,
                                           seen_version=item.version)  # fmt: skip

        if item.kind == MOVE:
            return self.service.reassign(
                plan, day, item.payload["orders"], item.payload["target_route_id"], now,
                also=mark, label_suffix=f" (proposed by {item.author})",
            )  # fmt: skip
        engine_proposal, scope = self._replan_of(plan, item)
        return self.service.accept_proposal(plan, engine_proposal, scope=scope, also=mark,
                                            label_suffix=f" (proposed by {item.author})")  # fmt: skip

    def _check_base(self, plan: Plan, item: StoredProposal) -> None:
        with self.service.store.read_session() as s:
            now = repository.route_versions(s, plan.depot_id, plan.day)
        moved = sorted(rid for rid, v in item.base_versions.items() if now.get(rid) != v)
        if moved:
            raise StaleVersionError("route", ", ".join(moved), None, None)

    def _replan_of(self, plan: Plan, item: StoredProposal) -> tuple[Proposal, ReplanScope | None]:
        data = item.payload
        new_routes = {r["id"]: route_from_snapshot(r) for r in data["routes"]}
        routes = tuple(new_routes.pop(r.id, r) for r in plan.routes if r.id not in data["drop"])
        routes += tuple(new_routes.values())
        unassigned = tuple(Unassigned(oid, UnassignedReason(reason), detail)
                           for oid, reason, detail in data["unassigned"])  # fmt: skip
        new_plan = replace(plan, routes=routes, unassigned=unassigned)
        lateness, distance = data["lateness_s"], data["distance_m"]
        from engine.planning import StopChange

        moved = tuple(StopChange(oid, None, None, None, None) for oid in data.get("moved", ()))
        duration, cost = data.get("duration_s", (0.0, 0.0)), data.get("cost", (0.0, 0.0))
        proposal = Proposal(new_plan, moved, (), lateness[0], lateness[1], distance[0],
                            distance[1], bool(item.effect.get("feasible", True)), 0.0,
                            duration_before_s=duration[0], duration_after_s=duration[1],
                            cost_before=cost[0], cost_after=cost[1],
                            notes=tuple(data.get("notes", ())))  # fmt: skip
        scope = (ReplanScope(frozenset(data["scope"]), data.get("exception_id", ""))
                 if data.get("scope") else None)  # fmt: skip
        return proposal, scope

    def reject(self, proposal_id: str, note: str = "") -> StoredProposal:
        """Turn the proposal down (supervisor), with a note for its author."""
        self._require_supervisor("Rejecting a proposal")
        return self._decide(proposal_id, REJECTED, note)

    def withdraw(self, proposal_id: str) -> StoredProposal:
        """Take one's own pending proposal back."""
        item = self.get(proposal_id)
        if item.author != self.actor:
            raise NotAllowed(f"only {item.author} may withdraw their proposal")
        return self._decide(proposal_id, WITHDRAWN, "")

    def _decide(self, proposal_id: str, status: str, note: str) -> StoredProposal:
        self._local_only()
        with self.service.store.session() as s:
            return proposals_repo.decide_proposal(s, proposal_id, status, actor=self.actor,
                                                  note=note)  # fmt: skip
