"""Intake's JSON for customers: follow a complaint and answer by its tracking token (the
token is the credential: unguessable, one per complaint)."""

import logging
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel

from services.common.web import ApiError, unavailable
from services.intake.state import Intake, IntakeDep
from services.intake.words import NEXT_STEP, STAGE, both
from services.notify.contract import NOTIFICATIONS_PATH
from services.workflow.contract import (
    KEPT_VIEW_PATH,
    LIVE_VIEW_WAIT,
    RECORDED_VIEW_PATH,
    REOPENABLE,
    ActionRefused,
    ComplaintClosed,
    ComplaintError,
    ComplaintNotFound,
    ComplaintView,
    CustomerReply,
    EngineUnavailable,
    ReopenAction,
    ReopenBody,
    Stage,
    SurveyAnswer,
)

log = logging.getLogger(__name__)
router = APIRouter()

# Steps the customer's page does not list: staff's own notes, and what another department answered.
STAFF_ONLY_EVENTS = {"NoteAdded", "ConsultationAnswered"}
# Which deadline tells the customer "by when" in each stage.
EXPECTED_BY = {
    Stage.assigned: "first_response",
    Stage.acknowledged: "resolution",
    Stage.second_follow_up: "second_follow_up",
}


class CustomerMessage(BaseModel):
    subject: str
    body: str
    sent_at: datetime


class CustomerStatus(BaseModel):
    complaint_id: str
    stage: Stage
    stage_label: str
    next_step: str
    expected_by: datetime | None = None
    received_at: datetime
    survey_open: bool
    survey_due_at: datetime | None = None
    reopen_until: datetime | None = None  # the result did not settle it: the customer may reopen it until then
    history: list[dict] = []
    messages: list[CustomerMessage] = []  # what we sent the customer; never staff alerts
    # False while the messages cannot be read back (notify is down): they are kept, not lost.
    messages_shown: bool = True
    # False while the workflow cannot show the live status (the engine or its worker restarting):
    # this is what the events recorded, and answering, rating or reopening waits until it is back.
    live: bool = True


async def complaint_by_token(token: str, intake: IntakeDep) -> asyncpg.Record:
    """The complaint a customer's tracking link names (the token is the credential)."""
    row = await intake.submissions.by_token(token)
    if row is None:
        raise ApiError(404, "not_found", "no complaint for this tracking link")
    if row["erased"]:
        raise ApiError(410, "erased", "the personal data of this complaint was erased on request")
    return row


ComplaintByToken = Annotated[asyncpg.Record, Depends(complaint_by_token)]


@router.get("/v1/track/{token}", response_model=CustomerStatus, tags=["customers"])
async def track(row: ComplaintByToken, intake: IntakeDep) -> CustomerStatus:
    if row["workflow_started_at"] is None:
        # Not started yet (Temporal was unreachable): it is safe with us and will start.
        return CustomerStatus(
            complaint_id=row["complaint_id"],
            stage=Stage.received,
            stage_label=both(STAGE[Stage.received]),
            next_step=both(NEXT_STEP[Stage.received]),
            received_at=row["received_at"],
            survey_open=False,
        )
    try:
        view = await _view(intake, row["complaint_id"])
    except EngineUnavailable:
        # The customer still sees where their complaint stands, as its events recorded it.
        view = await _recorded_view(intake, row["complaint_id"])
    live = view.live
    survey_open = live and view.stage == Stage.awaiting_survey and view.survey is None
    return CustomerStatus(
        complaint_id=view.complaint_id,
        stage=view.stage,
        stage_label=both(STAGE[view.stage]),
        next_step=both(NEXT_STEP[view.stage]),
        expected_by=view.survey_due_at if survey_open else view.deadlines.get(EXPECTED_BY.get(view.stage, "")),
        received_at=view.received_at,
        survey_open=survey_open,
        survey_due_at=view.survey_due_at,
        reopen_until=view.reopen_until if live and view.stage in REOPENABLE else None,
        history=[{"type": h.type, "at": h.at} for h in view.history if h.type not in STAFF_ONLY_EVENTS],
        **await _messages_to_customer(intake, view.complaint_id),
        live=live,
    )


async def _messages_to_customer(intake: Intake, complaint_id: str) -> dict[str, Any]:
    """From notify's outbox: what was sent to the customer (staff alerts and their e-mail copies
    left out, though they name the complaint). While
    notify cannot answer, the rest of the page still shows, and says the messages are not lost."""
    try:
        response = await intake.http.get(
            f"{intake.notify_url}{NOTIFICATIONS_PATH}", params={"complaint_id": complaint_id}, timeout=5
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("messages unavailable", extra={"complaint_id": complaint_id, "error": str(exc)})
        return {"messages": [], "messages_shown": False}
    sent = [
        CustomerMessage(
            subject=n["subject"], body=n["body"], sent_at=n["delivered_at"] or n["sent_at"] or n["created_at"]
        )
        for n in response.json()
        if n["audience"] == "customer"
    ]
    return {"messages": sent, "messages_shown": True}


@router.post("/v1/track/{token}/survey", response_model=CustomerStatus, tags=["customers"])
async def answer_survey(row: ComplaintByToken, answer: SurveyAnswer, intake: IntakeDep) -> CustomerStatus:
    await customer_update(intake, row, answer, "survey_not_open")
    return await track(row, intake)


@router.post("/v1/track/{token}/reply", response_model=CustomerStatus, tags=["customers"])
async def reply(
    row: ComplaintByToken,
    message: CustomerReply,
    intake: IntakeDep,
    key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> CustomerStatus:
    """The customer answers our question; the complaint's SLA clock runs again. With an
    `Idempotency-Key`, the same reply sent again gets the first outcome."""
    await customer_update(intake, row, message, "no_question_open", key=key)
    return await track(row, intake)


@router.post("/v1/track/{token}/reopen", response_model=CustomerStatus, tags=["customers"])
async def reopen(
    row: ComplaintByToken,
    body: ReopenBody,
    intake: IntakeDep,
    key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
) -> CustomerStatus:
    """The result does not settle it: the complaint goes back to its handler with new deadlines,
    within the policy's days after the result (`reopen_until` on the status)."""
    await customer_update(intake, row, ReopenAction(reason=body.reason), "cannot_reopen", key=key)
    return await track(row, intake)


CustomerInput = SurveyAnswer | CustomerReply | ReopenAction


async def customer_update(
    intake: Intake, row: asyncpg.Record, arg: CustomerInput, refusal_code: str, key: str | None = None
) -> None:
    complaint_id, complaints = row["complaint_id"], intake.complaints
    update_id = f"customer:{key}" if key else None
    try:
        if isinstance(arg, SurveyAnswer):
            await complaints.answer_survey(complaint_id, arg)
        elif isinstance(arg, ReopenAction):
            await complaints.reopen(complaint_id, arg, update_id)
        else:
            await complaints.customer_reply(complaint_id, arg, update_id)
    except (ActionRefused, ComplaintClosed, ComplaintNotFound) as exc:
        if await _already_recorded(intake, complaint_id, arg):
            return
        reason = exc.message if isinstance(exc, ActionRefused) else "this complaint is closed"
        raise ApiError(409, refusal_code, reason, reason=exc.reason) from exc
    except EngineUnavailable as exc:
        raise unavailable("this cannot be saved right now; try again", retry_after=2) from exc


async def _already_recorded(intake: Intake, complaint_id: str, arg: CustomerInput) -> bool:
    """A customer's form sent again after its answer was lost (a dropped connection, a reload)
    is the same answer: it gets the outcome, not 'already answered'. The reply and reopen forms
    carry a form token (their Update id); the survey, one per complaint, is recognised by its
    content."""
    if not isinstance(arg, SurveyAnswer):
        return False
    view = await _view(intake, complaint_id)  # 503 when it cannot tell now: neither yes nor no
    return view.survey == arg


def _unavailable() -> ApiError:
    return unavailable("the complaint cannot be shown right now; try again", retry_after=2)


async def _view(intake: Intake, complaint_id: str) -> ComplaintView:
    """The complaint from its workflow or, once Temporal forgot the closed complaint (its
    retention), as the workflow service kept it. `EngineUnavailable` when the workflow cannot
    answer within `LIVE_VIEW_WAIT`."""
    try:
        return await intake.complaints.status(complaint_id, rpc_timeout=LIVE_VIEW_WAIT)
    except ComplaintNotFound:
        pass
    except EngineUnavailable:
        raise
    except ComplaintError as exc:
        raise _unavailable() from exc
    answer = await _ask_workflow_service(intake, KEPT_VIEW_PATH, complaint_id)
    if answer.status_code == 404:
        raise ApiError(404, "not_found", "this complaint is no longer kept")
    return _view_in(answer)


async def _recorded_view(intake: Intake, complaint_id: str) -> ComplaintView:
    """The complaint as its events recorded it, from the workflow service's database."""
    return _view_in(await _ask_workflow_service(intake, RECORDED_VIEW_PATH, complaint_id))


async def _ask_workflow_service(intake: Intake, path: str, complaint_id: str) -> httpx.Response:
    try:
        return await intake.http.get(f"{intake.workflow_url}{path.format(complaint_id=complaint_id)}")
    except httpx.HTTPError as exc:
        raise _unavailable() from exc


def _view_in(answer: httpx.Response) -> ComplaintView:
    if answer.status_code != 200:
        raise _unavailable()
    return ComplaintView.model_validate_json(answer.content)
