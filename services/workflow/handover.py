"""A person's complaints handed over to colleagues on duty (domain §3): someone is off sick or
on leave, and what is assigned to them would wait past its deadlines. A group lead hands each
complaint still in handling to an on-duty member of its group, picked by the group's strategy as
routing picks, as an ordinary assignment by the lead (recorded with the reason, the customer's
story on the page for whoever takes it). Ownership stays where it is: the first responder
follows the complaint to its close (source 001), transfers and hand-overs move the work.

Each assignment is one Update whose id comes from the hand-over's key and the complaint, so a
retried hand-over assigns each complaint once."""

import asyncpg
from pydantic import BaseModel

from services.common.web import ApiError
from services.workflow.acting import Desk
from services.workflow.contract.refusals import english, refused
from services.workflow.permissions import Staff, forbidden, handover_refusal
from services.workflow.routing import Router
from services.workflow.stages import ALLOWED_IN, Action

# The stages in which a complaint can change hands; after its result it waits on the customer.
REASSIGNABLE = sorted(s.value for s in ALLOWED_IN[Action.assign])


class HandedOver(BaseModel):
    complaint_id: str
    assignee: str


class LeftWith(BaseModel):
    """A complaint that stays with the person, and why (nobody of its group on duty, or not the
    lead's to assign): the lead assigns it by hand."""

    complaint_id: str
    reason: str


class Handover(BaseModel):
    handed_over: list[HandedOver]
    left: list[LeftWith]


async def in_handling_by_person(pool: asyncpg.Pool) -> dict[str, int]:
    """How many complaints each person has that a hand-over would move."""
    rows = await pool.fetch(
        """SELECT assignee, count(*) AS n FROM workflow.inbox
           WHERE assignee IS NOT NULL AND stage = ANY($1::text[]) GROUP BY assignee""",
        REASSIGNABLE,
    )
    return {r["assignee"]: r["n"] for r in rows}


async def hand_over(desk: Desk, router: Router, lead: Staff, person: str, key: str) -> Handover:
    if reason := handover_refusal(lead):
        raise forbidden(reason)
    member = next((m for m in await router.staff() if m.staff_id == person), None)
    if member is None:
        raise ApiError(404, "not_found", f"no staff member '{person}'", field="staff_id")
    if member.on_duty:  # routing would pick them again, and they may be working on them
        reason = refused("still_on_duty", person=person)
        raise ApiError(409, "on_duty", english(reason), field="staff_id", reason=reason)
    rows = await desk.pool.fetch(
        """SELECT complaint_id, group_name FROM workflow.inbox
           WHERE assignee = $1 AND stage = ANY($2::text[])
           ORDER BY next_deadline NULLS LAST, received_at""",
        person,
        REASSIGNABLE,
    )
    handed, left = [], []
    for row in rows:
        complaint_id, group = row["complaint_id"], row["group_name"]
        colleague = await router.pick_for(group) if group else None
        if colleague is None:
            left.append(LeftWith(complaint_id=complaint_id, reason=f"nobody of group '{group}' is on duty"))
            continue
        note = f"handed over from {person}, who is off duty"
        try:
            view = await desk.act(
                lead, complaint_id, "assign", f"handover:{key}:{complaint_id}", assignee=colleague, note=note
            )
        except ApiError as exc:
            if exc.status == 503:  # the engine did not answer: nothing decided, the same key again
                raise
            left.append(LeftWith(complaint_id=complaint_id, reason=exc.message))
            continue
        handed.append(HandedOver(complaint_id=complaint_id, assignee=view.assignee or colleague))
    return Handover(handed_over=handed, left=left)
