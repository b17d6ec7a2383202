"""The event store: one append-only PostgreSQL table (see migrations/001_event_store.sql).

Appends take a table lock (EXCLUSIVE mode still lets readers read) so that positions are
handed out in commit order: a reader that follows the global position never skips an
event whose transaction committed late. The same technique as pyeventsourcing's
PostgreSQL recorder.

A step that continues its stream is one statement, one round trip: `workflow.append_in_one_call`
(migrations/013: checks, inbox row, outbox, lock, insert, committed on its own). A
retried step or a version another task holds goes the careful way, `_append_carefully`, and
ends in the same `workflow.store_step` (inbox row, outbox, lock, insert) once its checks pass. In a
storm of deadlines every escalation is such an append, and each round trip costs the worker.
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from pydantic import BaseModel

from services.common.events import NewEvent, StoredEvent
from services.notify.contract import KeyedNotificationRequest
from services.workflow import outbox

log = logging.getLogger(__name__)

SCHEMA = "workflow"


def _same(row: asyncpg.Record, event: NewEvent) -> bool:
    """The stored event is this step's, retried (its data may differ where it depends on the
    task's clock: what was stored first stands, as do the messages stored with it), and not
    another step that a retried task took under the same deterministic id."""
    return (row["version"], row["type"]) == (event.version, event.type)


class TaskFence(BaseModel):
    """The workflow task that writes: its run, and the history length it began with."""

    run_id: str
    history_length: int


async def _supersede_abandoned(conn: asyncpg.Connection, events: list[NewEvent], fence: TaskFence | None) -> int:
    """The stream already holds the versions this step is about to write. If an earlier workflow
    task wrote them, one that never completed (its worker died after the local activity
    committed), the task that replaced it owns these versions: its decisions are the ones in the
    workflow's history. The old rows leave the stream for `superseded_events`. Rows of a later
    task (or of this one) are a live writer's, and stay: the caller reports a conflict.

    Within one run, which task is earlier is told by the fencing token, the history length a
    task began with: a later task's history is at least as long, and of two tasks with the same
    length (a speculative Update task that was lost, then its replacement) the later began
    later. Across runs (an operator's reset starts a new run from an earlier point) and for rows
    or steps without a token (older generations), time tells: rows recorded before this step's
    task began are an earlier task's. Returns the stream's version afterwards."""
    stream_id, first = events[0].stream_id, events[0].version
    task_began = min(e.occurred_at for e in events)
    # The table lock first (a rare path): two appends each holding the delete's row lock mode
    # while asking for the table lock would deadlock.
    await conn.execute(f"LOCK TABLE {SCHEMA}.events IN EXCLUSIVE MODE")
    moved = await conn.fetch(
        f"""WITH abandoned AS (
                DELETE FROM {SCHEMA}.events WHERE stream_id = $1 AND version >= $2
                  AND NOT EXISTS (
                      SELECT 1 FROM {SCHEMA}.events WHERE stream_id = $1 AND version >= $2
                         AND NOT CASE WHEN task_run_id IS NOT DISTINCT FROM $5 AND task_fence IS NOT NULL
                                                   AND $4::int IS NOT NULL
                                      THEN (task_fence, occurred_at) < ($4::int, $3::timestamptz)
                                      ELSE recorded_at < $3 END)
                RETURNING *)
            INSERT INTO {SCHEMA}.superseded_events
                (position, event_id, stream_id, version, type, data, occurred_at, recorded_at, task_run_id,
                 task_fence)
            SELECT position, event_id, stream_id, version, type, data, occurred_at, recorded_at, task_run_id,
                   task_fence
            FROM abandoned
            RETURNING version, type""",
        stream_id,
        first,
        task_began,
        fence.history_length if fence else None,
        fence.run_id if fence else None,
    )
    if moved:
        log.warning(
            "events of a workflow task that never completed superseded by its retry",
            extra={
                "complaint_id": stream_id,
                "superseded": [f"{r['version']}:{r['type']}" for r in moved],
                "recorded": [f"{e.version}:{e.type}" for e in events],
            },
        )
    return await conn.fetchval(f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.events WHERE stream_id = $1", stream_id)


class VersionConflict(Exception):
    """The stream already has events past the version the writer expected."""

    def __init__(self, stream_id: str, expected_version: int, actual_version: int):
        super().__init__(
            f"stream {stream_id}: appending version {expected_version + 1}, "
            f"but the stream is at version {actual_version}"
        )
        self.stream_id, self.expected_version, self.actual_version = (
            stream_id,
            expected_version,
            actual_version,
        )


@dataclass(frozen=True)
class AppendResult:
    positions: list[int]
    duplicate: bool  # True when every event was already stored (a retried append)


_COLUMNS = "position, event_id, stream_id, version, type, data, occurred_at, recorded_at"


def _stored(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(**{**dict(row), "data": json.loads(row["data"])})


# The staff inbox row's changes a step's events make (inbox.changes_of).
InboxChanges = Callable[[list[NewEvent]], dict[str, Any]]


def _step_arguments(
    events: list[NewEvent], messages: Sequence[KeyedNotificationRequest], fence: TaskFence | None, inbox_row: str | None
) -> list:
    """A step as the arguments of `append_in_one_call` and `store_step` (migrations/013)."""
    return [
        [e.event_id for e in events],
        events[0].stream_id,
        [e.version for e in events],
        [e.type for e in events],
        [json.dumps(e.data, ensure_ascii=False, default=str) for e in events],
        [e.occurred_at for e in events],
        fence.run_id if fence else None,
        fence.history_length if fence else None,
        *outbox.columns(messages),
        inbox_row,
    ]


_STEP_PARAMETERS = ", ".join(f"${i}" for i in range(1, 14))


class EventStore:
    def __init__(self, pool: asyncpg.Pool, inbox: InboxChanges | None = None):
        """`inbox`: the staff inbox's changes, applied with each append (none without)."""
        self.pool = pool
        self.inbox = inbox

    def _inbox_row(self, events: list[NewEvent]) -> str | None:
        changes = self.inbox(events) if self.inbox else None
        return json.dumps(changes, ensure_ascii=False, default=str) if changes else None

    async def append(
        self,
        events: list[NewEvent],
        messages: Sequence[KeyedNotificationRequest] = (),
        fence: TaskFence | None = None,
    ) -> AppendResult:
        """Append events of one stream, which must continue its versions without a gap, and put
        the messages they cause in the outbox in the same transaction. `fence` names the writing
        workflow task (see `_supersede_abandoned`)."""
        if not events:
            if messages:
                async with self.pool.acquire() as conn, conn.transaction():
                    await outbox.enqueue(conn, messages)
            return AppendResult([], duplicate=False)
        stream_id = events[0].stream_id
        if any(e.stream_id != stream_id for e in events):
            raise ValueError("one append writes to one stream")
        if [e.version for e in events] != list(range(events[0].version, events[0].version + len(events))):
            raise ValueError("versions within one append must be consecutive")

        try:
            return await self._append_once(events, messages, fence)
        except asyncpg.UniqueViolationError:
            # Another append to this stream (a retry of the same step still running, or a stale
            # writer) committed between the checks and the insert: look again.
            return await self._append_once(events, messages, fence)

    async def _append_once(
        self, events: list[NewEvent], messages: Sequence[KeyedNotificationRequest], fence: TaskFence | None
    ) -> AppendResult:
        step = _step_arguments(events, messages, fence, self._inbox_row(events))
        positions = await self.pool.fetchval(f"SELECT {SCHEMA}.append_in_one_call({_STEP_PARAMETERS})", *step)
        if positions is not None:
            return AppendResult(list(positions), duplicate=False)
        return await self._append_carefully(events, fence, step)

    async def _append_carefully(self, events: list[NewEvent], fence: TaskFence | None, step: list) -> AppendResult:
        """A retried step (its events stored already) or a version another task holds."""
        stream_id = events[0].stream_id
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetch(
                f"SELECT event_id, position, version, type FROM {SCHEMA}.events WHERE event_id = ANY($1::uuid[])",
                [e.event_id for e in events],
            )
            by_id = {r["event_id"]: r for r in known}
            if len(known) == len(events) and all(_same(by_id[e.event_id], e) for e in events):
                return AppendResult([by_id[e.event_id]["position"] for e in events], duplicate=True)

            current = await conn.fetchval(
                f"SELECT coalesce(max(version), 0) FROM {SCHEMA}.events WHERE stream_id = $1", stream_id
            )
            if current >= events[0].version:
                current = await _supersede_abandoned(conn, events, fence)
            if current != events[0].version - 1:
                raise VersionConflict(stream_id, events[0].version - 1, current)

            positions = await conn.fetchval(f"SELECT {SCHEMA}.store_step({_STEP_PARAMETERS})", *step)
            return AppendResult(list(positions), duplicate=False)

    async def superseded(self, stream_id: str) -> list[StoredEvent]:
        """Events of this complaint that a workflow task stored and never completed (audit)."""
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.superseded_events WHERE stream_id = $1 ORDER BY position", stream_id
        )
        return [_stored(r) for r in rows]

    async def read_all(self, after: int = 0, limit: int = 100) -> list[StoredEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.events WHERE position > $1 ORDER BY position LIMIT $2",
            after,
            limit,
        )
        return [_stored(r) for r in rows]

    async def read_stream(self, stream_id: str) -> list[StoredEvent]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM {SCHEMA}.events WHERE stream_id = $1 ORDER BY version", stream_id
        )
        return [_stored(r) for r in rows]

    async def rewrite_stream(self, stream_id: str, rewrite: Callable[[str, dict[str, Any]], dict[str, Any]]) -> int:
        """Replace the data of a stream's events (and of its superseded ones) by `rewrite(type,
        data)`: the one exception to append-only, for erasing personal data. Positions, ids,
        versions and times stay, so every reader's place in the feed holds. Returns how many
        events changed."""
        changed = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for table in ("events", "superseded_events"):
                rows = await conn.fetch(
                    f"SELECT position, type, data FROM {SCHEMA}.{table} WHERE stream_id = $1 FOR UPDATE", stream_id
                )
                updates = []
                for row in rows:
                    data = json.loads(row["data"])
                    new = rewrite(row["type"], data)
                    if new != data:
                        updates.append((row["position"], json.dumps(new, ensure_ascii=False, default=str)))
                await conn.executemany(f"UPDATE {SCHEMA}.{table} SET data = $2 WHERE position = $1", updates)
                changed += len(updates)
        return changed
