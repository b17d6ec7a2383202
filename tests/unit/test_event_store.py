"""The event store against a real PostgreSQL: order, idempotent retries, version conflicts,
and the commit-order guarantee that lets a feed reader never skip a late commit."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from services.common.events import NewEvent
from services.workflow.eventstore import TaskFence, VersionConflict


def event(stream: str, version: int, event_type: str = "Something", **data) -> NewEvent:
    return NewEvent(
        event_id=uuid.uuid4(),
        stream_id=stream,
        version=version,
        type=event_type,
        occurred_at=datetime.now(UTC),
        data=data,
    )


async def test_appends_are_read_back_in_order(store):
    await store.append([event("a", 1, "ComplaintReceived", text="订单")])
    await store.append([event("b", 1)])
    await store.append([event("a", 2, "Closed")])

    feed = await store.read_all(after=0)
    assert [(e.stream_id, e.version) for e in feed] == [("a", 1), ("b", 1), ("a", 2)]
    assert [e.position for e in feed] == sorted(e.position for e in feed)
    assert feed[0].data == {"text": "订单"}
    assert [e.type for e in await store.read_stream("a")] == ["ComplaintReceived", "Closed"]
    assert [e.version for e in await store.read_all(after=feed[0].position, limit=1)] == [1]


async def test_a_retried_append_is_recognised_and_not_stored_twice(store):
    first = event("a", 1)
    stored = await store.append([first])
    again = await store.append([first])

    assert again.duplicate and not stored.duplicate
    assert again.positions == stored.positions
    assert len(await store.read_all()) == 1


async def test_a_version_taken_by_a_live_writer_is_a_conflict(store):
    """A writer whose task began before the version was stored is not its owner's retry (a
    worker that lost its workflow task and has not noticed yet): refused."""
    late = event("a", 1)
    await store.append([event("a", 1)])
    with pytest.raises(VersionConflict) as conflict:
        await store.append([late])
    assert conflict.value.actual_version == 1
    with pytest.raises(VersionConflict):
        await store.append([event("a", 3)])  # a gap is a conflict too
    assert len(await store.read_stream("a")) == 1


async def test_batches_must_be_one_stream_with_consecutive_versions(store):
    with pytest.raises(ValueError):
        await store.append([event("a", 1), event("b", 2)])
    with pytest.raises(ValueError):
        await store.append([event("a", 1), event("a", 3)])
    result = await store.append([event("a", 1), event("a", 2)])
    assert len(result.positions) == 2


async def test_positions_are_handed_out_in_commit_order(store):
    """A writer that holds its transaction open blocks later writers; so no reader can see
    position N+1 committed while N is still invisible (and then skip N)."""
    pool = store.pool
    slow = await pool.acquire()
    tx = slow.transaction()
    await tx.start()
    await slow.execute("LOCK TABLE workflow.events IN EXCLUSIVE MODE")  # as an append in progress does

    fast_append = asyncio.create_task(store.append([event("fast", 1)]))
    await asyncio.sleep(0.3)
    assert not fast_append.done(), "a second writer must wait for the first one's commit"
    assert await store.read_all() == []  # readers are not blocked

    await slow.execute(
        """INSERT INTO workflow.events (event_id, stream_id, version, type, data, occurred_at)
           VALUES ($1, 'slow', 1, 'Slow', '{}', now())""",
        uuid.uuid4(),
    )
    await tx.commit()
    await pool.release(slow)
    await fast_append

    feed = await store.read_all()
    assert [e.stream_id for e in feed] == ["slow", "fast"]


async def test_concurrent_writers_to_one_stream_never_duplicate_a_version(store):
    results = await asyncio.gather(*(store.append([event("a", 1)]) for _ in range(5)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, Exception))


async def test_events_of_a_workflow_task_that_never_completed_give_way_to_its_retry(store):
    """Seen in the fault suite: a worker stored BatchLinked as version 2 and died before its
    workflow task completed; the retried task resolved the complaint instead, and its Resolved
    event, under the same deterministic id, was taken for a duplicate and never stored."""
    await store.append([event("a", 1, "ComplaintReceived")])
    abandoned = event("a", 2, "BatchLinked", batch_id="B-1")
    await store.append([abandoned, event("a", 3, "Something")])

    retried = NewEvent(
        event_id=abandoned.event_id,
        stream_id="a",
        version=2,
        type="Resolved",
        occurred_at=datetime.now(UTC),
        data={"cause": "c"},
    )
    result = await store.append([retried])

    assert not result.duplicate
    assert [(e.version, e.type) for e in await store.read_stream("a")] == [(1, "ComplaintReceived"), (2, "Resolved")]
    assert [e.type for e in await store.read_all()] == ["ComplaintReceived", "Resolved"]
    assert [(e.version, e.type) for e in await store.superseded("a")] == [(2, "BatchLinked"), (3, "Something")]
    # Its own retry is recognised as before.
    assert (await store.append([retried])).duplicate


def at(stream: str, version: int, event_type: str, began: datetime) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), stream_id=stream, version=version, type=event_type, occurred_at=began)


def task(history_length: int, run_id: str = "run-1") -> TaskFence:
    return TaskFence(run_id=run_id, history_length=history_length)


async def test_an_earlier_task_s_events_give_way_even_when_stored_after_the_later_task_began(store):
    """Seen in the fault suite: a speculative Update task on a worker that was then killed stored
    Acknowledged after the task that replaced it had begun (by the clock), so the time rule took
    it for a live writer's and the replacement stored a second Acknowledged. The fencing token
    (the history length each task began with) orders the two tasks whatever the clocks say."""
    t0 = datetime.now(UTC)
    await store.append([at("a", 1, "ComplaintReceived", t0)], fence=task(3))
    replacement_began = datetime.now(UTC)
    await store.append([at("a", 2, "Acknowledged", t0), at("a", 3, "BatchLinked", t0)], fence=task(9))  # lost task

    await store.append([at("a", 2, "BatchLinked", replacement_began)], fence=task(14))

    assert [(e.version, e.type) for e in await store.read_stream("a")] == [(1, "ComplaintReceived"), (2, "BatchLinked")]
    assert [(e.version, e.type) for e in await store.superseded("a")] == [(2, "Acknowledged"), (3, "BatchLinked")]


async def test_a_stale_task_never_supersedes_a_later_one(store):
    """A worker that lost its task (a long pause) and writes afterwards is refused, however long
    ago its task began: the later task's history is longer."""
    t0 = datetime.now(UTC)
    await store.append([at("a", 1, "ComplaintReceived", t0)], fence=task(3))
    await store.append([at("a", 2, "Acknowledged", datetime.now(UTC))], fence=task(14))

    with pytest.raises(VersionConflict):
        await store.append([at("a", 2, "BatchLinked", datetime.now(UTC))], fence=task(9))
    assert [e.type for e in await store.read_stream("a")] == ["ComplaintReceived", "Acknowledged"]
    assert await store.superseded("a") == []


async def test_of_two_tasks_with_the_same_history_length_the_later_begun_wins(store):
    """A lost speculative task and its replacement can begin with the same history length."""
    t0 = datetime.now(UTC)
    await store.append([at("a", 1, "ComplaintReceived", t0)], fence=task(3))
    lost_began = datetime.now(UTC)
    await store.append([at("a", 2, "Acknowledged", lost_began)], fence=task(9))

    with pytest.raises(VersionConflict):  # the lost task is not the later one
        await store.append([at("a", 2, "BatchLinked", t0)], fence=task(9))
    await store.append([at("a", 2, "BatchLinked", datetime.now(UTC))], fence=task(9))
    assert [e.type for e in await store.read_stream("a")] == ["ComplaintReceived", "BatchLinked"]


async def test_a_reset_run_supersedes_what_the_old_run_wrote_after_the_reset_point(store):
    """An operator's reset starts a new run from an earlier point of the history: its tasks have
    shorter histories than the old run's, and time decides between the runs."""
    t0 = datetime.now(UTC)
    await store.append([at("a", 1, "ComplaintReceived", t0)], fence=task(3))
    await store.append([at("a", 2, "Escalated", t0)], fence=task(30))
    reset_began = datetime.now(UTC)

    await store.append([at("a", 2, "Acknowledged", reset_began)], fence=task(12, run_id="run-2"))
    assert [e.type for e in await store.read_stream("a")] == ["ComplaintReceived", "Acknowledged"]
    assert [e.type for e in await store.superseded("a")] == ["Escalated"]


async def test_a_new_step_is_stored_in_one_call_and_anything_else_is_left_to_the_careful_path(store):
    """`workflow.append_in_one_call` (migration 013) stores a step that continues its stream
    with its inbox row and messages, and answers NULL, changing nothing, for a step stored before
    or a version that does not follow the stream's."""
    first, second = event("a", 1), event("a", 2)

    async def call(*events: NewEvent, key: str = "a/receipt", inbox: str = '{"stage": "received"}'):
        return await store.pool.fetchval(
            "SELECT workflow.append_in_one_call($1, $2, $3, $4, $5, $6, 'run', 7, $7, $8, $9, $10, $11)",
            [e.event_id for e in events],
            "a",
            [e.version for e in events],
            [e.type for e in events],
            ["{}" for _ in events],
            [e.occurred_at for e in events],
            [key],
            ["a"],
            ['{"template": "receipt"}'],
            ["{}"],
            inbox,
        )

    stored = await call(first)
    assert stored is not None and len(stored) == 1
    refused = '{"stage": "closed"}'
    assert await call(first, key="a/again", inbox=refused) is None  # a retry: its events are there
    assert await call(event("a", 3), key="a/gap", inbox=refused) is None  # version 2 is missing
    assert await call(event("a", 1), key="a/taken", inbox=refused) is None  # version 1 is another task's
    later = '{"breached": true, "escalation_level": 1, "next_deadline": "2026-12-01 09:00:00+08:00"}'
    assert (await call(second, key="a/next", inbox=later))[0] > stored[0]

    row = await store.pool.fetchrow("SELECT stage, breached, escalation_level, next_deadline FROM workflow.inbox")
    assert (row["stage"], row["breached"], row["escalation_level"]) == ("received", True, 1)
    assert row["next_deadline"] == datetime(2026, 12, 1, 1, tzinfo=UTC)

    outbox = await store.pool.fetch("SELECT idempotency_key FROM workflow.outbox ORDER BY position")
    assert [r["idempotency_key"] for r in outbox] == ["a/receipt", "a/next"]
    rows = await store.pool.fetch("SELECT version, task_run_id, task_fence FROM workflow.events ORDER BY version")
    assert [tuple(r) for r in rows] == [(1, "run", 7), (2, "run", 7)]


async def test_a_retried_step_keeps_one_copy_of_its_messages_and_its_inbox_row(store):
    from services.notify.contract import KeyedNotificationRequest

    message = KeyedNotificationRequest(
        idempotency_key="a/escalation",
        complaint_id="a",
        template="sla_escalation",
        channel="internal",
        recipient_name="lead",
        recipient_address="role:lead",
        variables={"level": 1},
    )
    step = [event("a", 1, "SlaBreached", target="first_response"), event("a", 2, "Escalated", level=1)]
    first = await store.append(step, messages=[message])
    again = await store.append(step, messages=[message])

    assert again.duplicate and again.positions == first.positions
    assert await store.pool.fetchval("SELECT count(*) FROM workflow.outbox") == 1
    assert await store.pool.fetchval("SELECT count(*) FROM workflow.inbox WHERE complaint_id = 'a'") == 1
