"""The event store against a real PostgreSQL: order, idempotent retries, version conflicts,
and the commit-order guarantee that lets a feed reader never skip a late commit."""

import asyncio
import uuid
from datetime import datetime, timezone

import pytest

from services.common.events import NewEvent
from services.workflow.eventstore import VersionConflict


def event(stream: str, version: int, event_type: str = "Something", **data) -> NewEvent:
    return NewEvent(event_id=uuid.uuid4(), stream_id=stream, version=version, type=event_type,
                    occurred_at=datetime.now(timezone.utc), data=data)


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


async def test_a_version_already_taken_by_another_event_is_a_conflict(store):
    await store.append([event("a", 1)])
    with pytest.raises(VersionConflict) as conflict:
        await store.append([event("a", 1)])
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
