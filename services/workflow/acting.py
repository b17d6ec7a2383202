"""A signed-in person acts on a complaint: the one path the staff API and the console share.

Whether they may is permissions.py (403 with the reason); whether the action fits the
complaint's stage is the workflow's Update validator (409 with the reason). The acting person
always comes from the credential, never from what was typed.
"""

from collections.abc import Awaitable
from dataclasses import dataclass

import asyncpg

from services.common.web import ApiError
from services.workflow import kept_views
from services.workflow.authority import Authority
from services.workflow.contract import (
    UPDATES,
    ActionRefused,
    CompensationBody,
    ComplaintClient,
    ComplaintClosed,
    ComplaintNotFound,
    ComplaintView,
    ConsultationAnswerAction,
    ConsultationAnswerBody,
    ConsultBody,
    DecisionAction,
    DecisionBody,
    TransferBody,
)
from services.workflow.contract.refusals import refused
from services.workflow.permissions import Handling, Staff, answering_for, consulted_refusal, forbidden, refusal
from services.workflow.routing import Router


@dataclass(frozen=True)
class Desk:
    """What acting needs: the inbox (who a complaint is with), routing, authority limits and
    the workflows."""

    pool: asyncpg.Pool
    router: Router
    authority: Authority
    complaints: ComplaintClient

    async def handling(self, complaint_id: str) -> Handling:
        row = await self.pool.fetchrow(
            """SELECT group_name, assignee, owner, liaison, transfer_to, recorded_by, consulted_groups
               FROM workflow.inbox WHERE complaint_id = $1""",
            complaint_id,
        )
        if row is None:
            raise ApiError(404, "not_found", f"no complaint {complaint_id}", field="complaint_id")
        return Handling.of(row)

    async def permit(self, staff: Staff, complaint_id: str, action: str) -> str:
        """The acting person's id once they may take this action on this complaint; 403 otherwise."""
        if reason := refusal(staff, action, await self.handling(complaint_id), self.router.config):
            raise forbidden(reason)
        return staff.staff_id

    async def act(self, staff: Staff, complaint_id: str, update: str, key: str | None, **fields) -> ComplaintView:
        """One action, if they may: the Update's argument type comes from the contract."""
        staff_id = await self.permit(staff, complaint_id, update)
        action = UPDATES[update](staff_id=staff_id, **fields)
        return await self._sent(complaint_id, getattr(self.complaints, update)(complaint_id, action, key))

    async def _sent(self, complaint_id: str, update: Awaitable[ComplaintView]) -> ComplaintView:
        """An Update's answer; refused as closed when the engine no longer knows a complaint that
        closed and was kept (services/workflow/kept_views.py), not 'no such complaint'."""
        try:
            return await update
        except ComplaintNotFound:
            if await kept_views.was_kept(self.pool, complaint_id):
                raise ComplaintClosed.named(complaint_id) from None
            raise

    async def transfer(self, staff: Staff, complaint_id: str, body: TransferBody, key: str | None) -> ComplaintView:
        if body.to_group not in self.router.config.groups:
            raise ApiError(
                422, "unknown_group", f"no group '{body.to_group}' in the routing configuration", field="to_group"
            )
        # A named person of the receiving group is asked (source 003), picked as routing picks.
        liaison = await self.router.pick_for(body.to_group)
        return await self.act(staff, complaint_id, "transfer", key, liaison=liaison, **body.model_dump())

    async def consult(self, staff: Staff, complaint_id: str, body: ConsultBody, key: str | None) -> ComplaintView:
        """Other departments asked for their view (source 002's joint consultation): each by a
        named member on duty, picked as routing picks, as a transfer's liaison is."""
        unknown = [g for g in body.groups if g not in self.router.config.groups]
        if unknown:
            raise ApiError(
                422, "unknown_group", f"no group '{unknown[0]}' in the routing configuration", field="groups"
            )
        liaisons = {group: await self.router.pick_for(group) for group in body.groups}
        return await self.act(staff, complaint_id, "consult", key, liaisons=liaisons, **body.model_dump())

    async def answer_consultation(
        self, staff: Staff, complaint_id: str, body: ConsultationAnswerBody, key: str | None
    ) -> ComplaintView:
        """An asked group's answer, by one of its members: for the group named, or the one asked
        group this person answers for."""
        handling = await self.handling(complaint_id)
        if reason := consulted_refusal(staff, handling, self.router.config):
            raise forbidden(reason)
        groups = answering_for(staff, handling, self.router.config)
        if not groups:
            raise ActionRefused.because(refused("nothing_asked"))
        if body.group is not None and body.group not in groups:
            raise ApiError(422, "not_asked", f"'{body.group}' is not an asked group you answer for", field="group")
        if body.group is None and len(groups) > 1:
            raise ApiError(422, "which_group", f"name the group you answer for: {', '.join(groups)}", field="group")
        answer = ConsultationAnswerAction(staff_id=staff.staff_id, group=body.group or groups[0], answer=body.answer)
        return await self._sent(complaint_id, self.complaints.answer_consultation(complaint_id, answer, key))

    async def propose_compensation(
        self, staff: Staff, complaint_id: str, body: CompensationBody, key: str | None
    ) -> ComplaintView:
        """Within the proposer's authority it is granted at once; above it, the lowest role whose
        limit covers it is asked to approve."""
        approver = None
        if not self.authority.covers(staff.authority, body.kind, body.amount):
            approver = self.authority.approver_for(body.kind, body.amount)
            if approver is None:
                raise ApiError(422, "beyond_every_authority", "no role may grant this much", field="amount")
        return await self.act(
            staff, complaint_id, "propose_compensation", key, approver_role=approver, **body.model_dump()
        )

    async def decide_compensation(
        self, staff: Staff, complaint_id: str, body: DecisionBody, key: str | None
    ) -> ComplaintView:
        """Only someone whose own limit covers the pending compensation decides it."""
        staff_id = await self.permit(staff, complaint_id, "decide_compensation")
        pending = (await kept_views.view_of(self.pool, self.complaints, complaint_id)).pending_compensation()
        if pending is not None and not self.authority.covers(staff.authority, pending.kind, pending.amount):
            raise forbidden(refused("beyond_authority", kind=pending.kind, approver=pending.approver_role or ""))
        decision = DecisionAction(staff_id=staff_id, **body.model_dump())
        return await self._sent(complaint_id, self.complaints.decide_compensation(complaint_id, decision, key))
