"""Complaints staff took down (a call to the hotline, a customer at a store's counter), handed
over by the workflow service under the name of who recorded them. They take the one way in that
every channel takes (source 001: one intake for every channel): classified, checked for a repeat
of the same customer's open complaint, stored, then started."""

from fastapi import APIRouter, Depends, Response

from services.common.service_auth import service_caller
from services.common.web import ApiError
from services.intake.channel_api import IdempotencyKey, accept
from services.intake.contract import STAFF_RECORDED_PATH, RecordedComplaint
from services.intake.keys import ANY_CHANNEL, ChannelKey
from services.intake.state import IntakeDep
from services.intake.submissions import ComplaintSubmission

router = APIRouter(tags=["workflow service"], dependencies=[Depends(service_caller("workflow"))])


@router.post(STAFF_RECORDED_PATH, status_code=202, response_model=RecordedComplaint)
async def staff_recorded(
    submission: ComplaintSubmission, idempotency_key: IdempotencyKey, response: Response, intake: IntakeDep
) -> RecordedComplaint:
    """The workflow service says who recorded it (`recorded_by`, the signed-in person); a key is
    that person's own, so one person's retry never answers another's."""
    if not submission.recorded_by:
        raise ApiError(422, "invalid_request", "recorded_by: who took the complaint down", field="recorded_by")
    as_recorder = ChannelKey(key_id=f"staff:{submission.recorded_by}", channel=ANY_CHANNEL)
    accepted = await accept(intake, idempotency_key, submission, response, as_recorder)
    return RecordedComplaint(
        complaint_id=accepted.complaint_id,
        received_at=accepted.received_at,
        linked_to=accepted.linked_to,
        replayed=response.headers.get("Idempotent-Replayed") == "true",
    )
