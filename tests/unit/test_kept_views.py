"""Closed complaints kept for when Temporal forgets them (services/workflow/kept_views.py), on a
real PostgreSQL; the engine's side is a stand-in that knows some complaints and not others."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.common.events import NewEvent
from services.intake.contract import AcceptedSubmission
from services.workflow import kept_views
from services.workflow.contract import (
    LIVE_VIEW_WAIT,
    Channel,
    ComplaintNotFound,
    ComplaintView,
    EngineUnavailable,
    Stage,
)
from services.workflow.eventstore import EventStore
from tests.conftest import migrated_pool

AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Engine:
    """What `ComplaintClient.status` answers: the known workflows' views, NOT_FOUND for the rest."""

    def __init__(self, views: dict[str, ComplaintView]):
        self.views, self.asked = views, []

    async def status(self, complaint_id: str, rpc_timeout: timedelta | None = None) -> ComplaintView:
        self.asked.append(complaint_id)
        if complaint_id not in self.views:
            raise ComplaintNotFound(f"no complaint {complaint_id}")
        return self.views[complaint_id]


def view(complaint_id: str, stage: Stage = Stage.closed) -> ComplaintView:
    return ComplaintView(complaint_id=complaint_id, stage=stage, channel=Channel.hotline, received_at=AT, tier=2)


@pytest.fixture
async def pool(fresh_database_url):
    pool = await migrated_pool(fresh_database_url, "workflow")
    yield pool
    await pool.close()


async def closed_in_inbox(pool, *complaint_ids: str) -> None:
    for complaint_id in complaint_ids:
        await pool.execute("INSERT INTO workflow.inbox (complaint_id, stage) VALUES ($1, 'closed')", complaint_id)


async def erased(pool, complaint_id: str) -> None:
    await pool.execute(
        """INSERT INTO workflow.events (event_id, stream_id, version, type, data, occurred_at)
           VALUES ($1, $2, 1, 'CustomerDataErased', '{}', $3)""",
        uuid.uuid4(),
        complaint_id,
        AT,
    )


async def test_a_closed_complaint_is_kept_once_and_read_back_when_the_engine_forgot_it(pool):
    await closed_in_inbox(pool, "C-1", "C-2")
    engine = Engine({"C-1": view("C-1"), "C-2": view("C-2", Stage.awaiting_survey)})
    assert await kept_views.keep_closed(pool, engine) is False  # less than a batch: not busy
    await kept_views.keep_closed(pool, engine)
    assert engine.asked.count("C-1") == 1  # kept: not asked again
    assert engine.asked.count("C-2") == 2  # the workflow had not closed yet: asked again next pass

    assert await kept_views.view_of(pool, Engine({"C-1": view("C-1", Stage.resolved)}), "C-1") == view(
        "C-1", Stage.resolved
    )  # the engine's answer while it has one
    assert await kept_views.view_of(pool, Engine({}), "C-1") == view("C-1")  # then the kept view
    with pytest.raises(ComplaintNotFound):
        await kept_views.view_of(pool, Engine({}), "C-2")


async def test_one_gone_before_it_was_kept_is_noted_once_and_does_not_hold_up_the_others(pool):
    gone = [f"G-{n}" for n in range(kept_views.BATCH)]
    await closed_in_inbox(pool, *gone, "C-1")
    engine = Engine({"C-1": view("C-1")})
    assert await kept_views.keep_closed(pool, engine) is True  # a full batch: more may wait
    await kept_views.keep_closed(pool, engine)
    assert await kept_views.view_of(pool, engine, "C-1") == view("C-1")
    assert engine.asked.count("G-0") == 1
    with pytest.raises(ComplaintNotFound):
        await kept_views.view_of(pool, Engine({}), "G-0")


async def test_an_erased_complaint_is_never_kept_and_an_erasure_forgets_what_was(pool):
    await closed_in_inbox(pool, "C-1", "C-2")
    engine = Engine({"C-1": view("C-1"), "C-2": view("C-2")})
    await kept_views.keep_closed(pool, engine)
    await erased(pool, "C-1")
    await erased(pool, "C-3")
    await closed_in_inbox(pool, "C-3")
    engine.views["C-3"] = view("C-3")  # the pass read it just before the erasure deleted its workflow
    await kept_views.keep_closed(pool, engine)
    assert "C-3" not in engine.asked
    await kept_views._keep(pool, "C-3", view("C-3"))  # a pass that raced the erasure keeps nothing
    assert await kept_views.forget(pool, "C-1") == 1
    assert await kept_views.forget(pool, "C-1") == 0
    kept = {r["complaint_id"] for r in await pool.fetch("SELECT complaint_id FROM workflow.kept_views")}
    assert kept == {"C-2"}


async def test_the_gauge_says_how_long_the_oldest_closed_complaint_has_waited_to_be_kept(pool):
    await closed_in_inbox(pool, "C-1", "C-2")
    await pool.execute("UPDATE workflow.inbox SET updated_at = now() - interval '2 hours' WHERE complaint_id = 'C-1'")
    await erased(pool, "C-2")  # an erased complaint is not waiting for anything
    await kept_views.refresh_gauge(pool)
    assert 7200 <= kept_views.OLDEST_WAITING._value.get() < 7300
    await kept_views.keep_closed(pool, Engine({"C-1": view("C-1")}))
    await kept_views.refresh_gauge(pool)
    assert kept_views.OLDEST_WAITING._value.get() == 0


class EngineDown(Engine):
    async def status(self, complaint_id: str, rpc_timeout: timedelta | None = None) -> ComplaintView:
        self.asked.append((complaint_id, rpc_timeout))
        raise EngineUnavailable("the workflow engine did not answer")


async def test_while_the_engine_cannot_answer_staff_read_what_was_recorded_or_accepted(pool):
    await pool.execute(
        """INSERT INTO workflow.inbox (complaint_id, stage, channel, received_at, tier, group_name, owner)
           VALUES ('C-1', 'acknowledged', 'hotline', $1, 2, 'senior-agents', 'li.na')""",
        AT,
    )
    await pool.execute("INSERT INTO workflow.inbox (complaint_id, stage) VALUES ('C-2', 'received')")
    events = EventStore(pool)
    await events.append(
        [
            NewEvent(
                event_id=uuid.uuid4(),
                stream_id="C-1",
                version=v,
                type=t,
                data={},
                occurred_at=AT + timedelta(minutes=v),
            )
            for v, t in ((1, "ComplaintReceived"), (2, "Acknowledged"))
        ]
    )
    engine = EngineDown({})
    intake = intake_holding({"C-2": True, "C-3": False})  # C-2 started; C-3 waits for Temporal

    recorded = await kept_views.staff_view(pool, engine, events, intake, "C-1")
    assert engine.asked == [("C-1", LIVE_VIEW_WAIT)]  # it waited as long as a page does
    assert recorded.live is False
    assert (recorded.stage, recorded.group, recorded.owner, recorded.tier) == (
        Stage.acknowledged,
        "senior-agents",
        "li.na",
        2,
    )
    assert [h.type for h in recorded.history] == ["ComplaintReceived", "Acknowledged"]
    assert recorded.deadlines == {}  # no running deadline is shown as if it were live
    with pytest.raises(EngineUnavailable):  # started, its receipt not recorded: nothing to show but "try again"
        await kept_views.staff_view(pool, engine, events, intake, "C-2")
    waiting = await kept_views.staff_view(pool, engine, events, intake, "C-3")  # accepted, not started
    assert (waiting.stage, waiting.live) == (Stage.received, False)
    with pytest.raises(ComplaintNotFound):  # intake accepted no such complaint: none, engine down or not
        await kept_views.staff_view(pool, engine, events, intake, "C-4")

    live = await kept_views.staff_view(pool, Engine({"C-1": view("C-1", Stage.resolved)}), events, intake, "C-1")
    assert live.live is True and live.stage == Stage.resolved
    waiting = await kept_views.staff_view(pool, Engine({}), events, intake, "C-3")  # the engine knows none yet
    assert (waiting.stage, waiting.live) == (Stage.received, False)


def intake_holding(started: dict[str, bool]) -> httpx.AsyncClient:
    """Intake's accepted endpoint: the complaints it holds, started or not; 404 for the rest."""

    def answer(request: httpx.Request) -> httpx.Response:
        complaint_id = request.url.path.rsplit("/", 1)[-1]
        if complaint_id not in started:
            return httpx.Response(404, json={"error": "not_found", "message": complaint_id})
        held = AcceptedSubmission(
            complaint_id=complaint_id, channel="hotline", received_at=AT, started=started[complaint_id]
        )
        return httpx.Response(200, json=held.model_dump(mode="json"))

    return httpx.AsyncClient(base_url="http://intake", transport=httpx.MockTransport(answer))
