"""Staff asking for a complaint the engine does not know yet (services/workflow/not_started.py):
each answer intake may give, from a stand-in that answers as intake's accepted endpoint does."""

from datetime import UTC, datetime

import httpx
import pytest

from services.common.web import ApiError
from services.intake.contract import AcceptedSubmission
from services.workflow.contract import Channel, ComplaintNotFound, EngineUnavailable, Stage
from services.workflow.not_started import accepted_view, waiting

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def intake_answering(status: int, submission: AcceptedSubmission | None = None) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path == b"/v1/accepted/C-1"
        body = submission.model_dump(mode="json") if submission else {"error": "x", "message": "y"}
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(base_url="http://intake", transport=httpx.MockTransport(answer))


def submission(**changes) -> AcceptedSubmission:
    return AcceptedSubmission(
        **{"complaint_id": "C-1", "channel": "hotline", "received_at": AT, "started": False, **changes}
    )


ENGINE_DOWN = EngineUnavailable("the workflow engine did not answer")


async def test_one_intake_holds_unstarted_shows_as_received_and_not_live():
    view = await accepted_view(intake_answering(200, submission()), "C-1", ENGINE_DOWN)
    assert (view.stage, view.channel, view.received_at, view.live) == (Stage.received, Channel.hotline, AT, False)


async def test_one_intake_never_accepted_does_not_exist_even_while_the_engine_is_down():
    with pytest.raises(ComplaintNotFound):
        await accepted_view(intake_answering(404), "C-1", ENGINE_DOWN)


async def test_once_started_the_engines_answer_stands():
    started = intake_answering(200, submission(started=True))
    with pytest.raises(EngineUnavailable):
        await accepted_view(started, "C-1", ENGINE_DOWN)
    gone = ComplaintNotFound("no complaint C-1")  # its workflow forgotten past retention, no view kept
    with pytest.raises(ComplaintNotFound) as raised:
        await accepted_view(started, "C-1", gone)
    assert raised.value is gone


async def test_intake_unable_to_answer_is_a_503_to_retry_not_a_404():
    with pytest.raises(ApiError) as refused:
        await accepted_view(intake_answering(503), "C-1", ComplaintNotFound("no complaint C-1"))
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "5"}


async def test_an_id_is_asked_for_as_one_path_segment():
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.raw_path)
        return httpx.Response(422, json={"error": "validation_error", "message": "complaint_id"})

    intake = httpx.AsyncClient(base_url="http://intake", transport=httpx.MockTransport(answer))
    with pytest.raises(ComplaintNotFound):
        await accepted_view(intake, "C-1?x=1/../2", ENGINE_DOWN)
    assert asked == [b"/v1/accepted/C-1%3Fx%3D1%2F..%2F2"]


def intake_listing(status: int, body: dict) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert (request.url.path, request.url.params["limit"]) == ("/v1/accepted", "50")
        return httpx.Response(status, json=body)

    return httpx.AsyncClient(base_url="http://intake", transport=httpx.MockTransport(answer))


async def test_the_complaints_waiting_to_start_are_intakes_list():
    listed = {"complaint_id": "C-1", "channel": "app", "received_at": AT.isoformat(), "tier": 1}
    found = await waiting(intake_listing(200, {"complaints": [listed], "total": 3}))
    assert (found.total, [(c.complaint_id, c.tier, c.received_at) for c in found.complaints]) == (3, [("C-1", 1, AT)])


async def test_when_intake_cannot_list_them_staff_get_a_503_to_retry():
    with pytest.raises(ApiError) as refused:
        await waiting(intake_listing(503, {"error": "temporarily_unavailable", "message": "x"}))
    assert refused.value.status == 503 and refused.value.headers
