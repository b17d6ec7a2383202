"""What intake holds of accepted submissions, for the workflow service: staff who ask for a
complaint whose workflow has not started yet (Temporal unreachable when it came in) learn that it
was accepted and will start, instead of "no such complaint"; and the console lists those waiting,
so that an urgent one is seen during an outage."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from services.common.privacy import mask_name, masked_contact, masked_summary
from services.common.service_auth import service_caller
from services.common.web import ApiError
from services.intake.contract import (
    ACCEPTED_PATH,
    WAITING_PATH,
    AcceptedSubmission,
    WaitingComplaint,
    WaitingComplaints,
)
from services.intake.state import IntakeDep
from services.workflow.contract import ComplaintInput

router = APIRouter(tags=["workflow service"], dependencies=[Depends(service_caller("workflow"))])
ComplaintId = Annotated[str, Path(max_length=64, pattern=r"^[0-9A-Za-z-]+$")]


@router.get(ACCEPTED_PATH, response_model=AcceptedSubmission)
async def accepted(complaint_id: ComplaintId, intake: IntakeDep) -> AcceptedSubmission:
    row = await intake.submissions.pool.fetchrow(
        """SELECT complaint_id, channel, received_at, workflow_started_at IS NOT NULL AS started
           FROM intake.submissions WHERE complaint_id = $1 AND repeat_of IS NULL""",
        complaint_id,
    )
    if row is None:  # a repeat linked into another complaint is not one of its own (its adapter got that one's id)
        raise ApiError(404, "not_found", f"no complaint {complaint_id}", field="complaint_id")
    return AcceptedSubmission(**dict(row))


@router.get(WAITING_PATH, response_model=WaitingComplaints)
async def waiting(intake: IntakeDep, limit: Annotated[int, Query(ge=1, le=200)] = 50) -> WaitingComplaints:
    """Accepted complaints whose workflow has not started, the oldest first (a repeat waiting to
    be linked into another complaint is not one of its own)."""
    rows = await intake.submissions.pool.fetch(
        """SELECT complaint_id, channel, received_at, workflow_input, count(*) OVER () AS total
           FROM intake.submissions WHERE workflow_started_at IS NULL AND repeat_of IS NULL
           ORDER BY received_at, complaint_id LIMIT $1""",
        limit,
    )
    total = rows[0]["total"] if rows else 0
    return WaitingComplaints(complaints=[_listed(row) for row in rows], total=total)


def _listed(row: Any) -> WaitingComplaint:
    complaint = ComplaintInput.model_validate_json(row["workflow_input"])
    classified = complaint.classification
    return WaitingComplaint(
        complaint_id=row["complaint_id"],
        channel=row["channel"],
        received_at=row["received_at"],
        tier=classified.tier if classified else None,
        complaint_type=classified.complaint_type if classified else None,
        customer_name=mask_name(complaint.customer.name),
        customer_contact=masked_contact(complaint.customer.model_dump()),
        summary=masked_summary(complaint.subject, complaint.description),
    )
