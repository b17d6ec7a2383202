"""What intake holds of an accepted submission, for the workflow service: staff who ask for a
complaint whose workflow has not started yet (Temporal unreachable when it came in) learn that it
was accepted and will start, instead of "no such complaint"."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from services.common.service_auth import service_caller
from services.common.web import ApiError
from services.intake.contract import ACCEPTED_PATH, AcceptedSubmission
from services.intake.state import IntakeDep

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
