"""A complaint intake accepted whose workflow has not started yet.

Intake stores a submission before it answers 202, and starts its workflow at once, or once
Temporal is reachable again. Until then the engine knows no such complaint; staff who ask for it
(the customer on the phone reads them the number) are told it was accepted and waits to start,
rather than that it does not exist; and every member of staff sees the ones waiting, so that an
urgent complaint is not unseen for as long as the outage lasts."""

from urllib.parse import quote

import httpx

from services.common.web import ApiError, unavailable
from services.intake.contract import ACCEPTED_PATH, WAITING_PATH, AcceptedSubmission, WaitingComplaints
from services.workflow.contract import Channel, ComplaintError, ComplaintNotFound, ComplaintView, Stage


async def accepted_view(intake: httpx.AsyncClient, complaint_id: str, engine_said: ComplaintError) -> ComplaintView:
    """What staff are told when the engine does not know the complaint or cannot answer
    (`engine_said`): as received, not `live`, while intake holds it unstarted; no such complaint
    when intake accepted none by this id (every complaint enters through intake); otherwise what
    the engine said stands."""
    answer = await intake.get(ACCEPTED_PATH.format(complaint_id=quote(complaint_id, safe="")))
    if answer.status_code in (404, 422):  # 422: not even the shape of a complaint id
        raise ComplaintNotFound(f"no complaint {complaint_id}")
    if answer.status_code != 200:
        raise _intake_unavailable("whether it holds this complaint")
    submission = AcceptedSubmission.model_validate_json(answer.content)
    if submission.started:
        raise engine_said
    return ComplaintView(
        complaint_id=submission.complaint_id,
        stage=Stage.received,
        channel=Channel(submission.channel),
        received_at=submission.received_at,
        live=False,
    )


async def waiting(intake: httpx.AsyncClient, limit: int = 50) -> WaitingComplaints:
    """The complaints intake accepted whose workflow has not started, the oldest first (none
    while Temporal is up, but for the moment between acceptance and start)."""
    answer = await intake.get(WAITING_PATH, params={"limit": limit})
    if answer.status_code != 200:
        raise _intake_unavailable("which complaints wait to start")
    return WaitingComplaints.model_validate_json(answer.content)


def _intake_unavailable(what: str) -> ApiError:
    return unavailable(f"intake cannot say right now {what}; retry shortly")
