"""The workflow's outbox: messages stored with the events that caused them, then handed to notify.

A complaint's messages (to the customer, alerts to staff) are written in the same transaction
as its events (`EventStore.append`), inside the workflow's one local activity per step. So:
- a staff action answers as soon as PostgreSQL has the step, whether notify is up or not;
- a retried workflow task (after a worker crash) finds its messages stored already, under the
  same idempotency key, and keeps the first version: what the customer is told is what the
  event store recorded, never a second body computed from a later clock;
- the relay below hands each message to notify with its key until notify has it; notify
  deduplicates by key, so a hand-over repeated after a crash delivers once.
"""

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
from opentelemetry import propagate, trace
from prometheus_client import Gauge
from pydantic import ValidationError

from services.notify.contract import (
    BATCH_PATH,
    MAX_BATCH,
    Acceptance,
    BatchAcceptance,
    HandedOverNotification,
    KeyedNotificationRequest,
    NotificationBatch,
)

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

CLAIM_LEASE = timedelta(seconds=30)  # a claimed message is handed over again if its relay died
# The relay runs in the staff API's process, which polls: the worker that stores the messages
# cannot wake it, and should not run it (a timer storm waits for the worker's Python alone). A
# message waits at most this long; a storm's messages go over in whole batches meanwhile.
RELAY_POLL_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 60.0  # never given up: a message waits for notify as long as it takes


def columns(
    messages: Sequence[KeyedNotificationRequest],
) -> tuple[list[str], list[str | None], list[str], list[str]]:
    """Messages as the outbox's columns (keys, complaints, requests, trace contexts) for
    `workflow.enqueue_messages` (migrations/013); the complaint's trace continues at the hand-over."""
    carrier: dict[str, str] = {}
    if messages:
        propagate.inject(carrier)
    context = json.dumps(carrier)
    return (
        [m.idempotency_key for m in messages],
        [m.complaint_id for m in messages],
        [json.dumps(m.body(), ensure_ascii=False) for m in messages],
        [context for _ in messages],
    )


async def enqueue(conn: asyncpg.Connection, messages: Sequence[KeyedNotificationRequest]) -> None:
    """Store messages inside the caller's transaction; a key stored before keeps its first body."""
    if messages:
        await conn.execute("SELECT workflow.enqueue_messages($1, $2, $3, $4)", *columns(messages))


async def rewrite_requests(
    pool: asyncpg.Pool, complaint_id: str, rewrite: Callable[[dict[str, Any]], dict[str, Any]]
) -> int:
    """Replace a complaint's stored requests by `rewrite(request)` (erasing personal data); a
    message not yet handed over goes on with what is left of it. Returns how many changed."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT position, request FROM workflow.outbox WHERE complaint_id = $1 FOR UPDATE", complaint_id
        )
        updates = []
        for row in rows:
            request = json.loads(row["request"])
            new = rewrite(request)
            if new != request:
                updates.append((row["position"], json.dumps(new, ensure_ascii=False)))
        await conn.executemany(
            "UPDATE workflow.outbox SET request = $2, last_error = NULL WHERE position = $1", updates
        )
    return len(updates)


async def alerts_to(pool: asyncpg.Pool, addresses: Sequence[str], limit: int = 30) -> list[dict]:
    """Staff alerts sent to any of these addresses (`staff:<id>`, `role:<role>@<group>`), newest
    first, with the stage their complaint is in now: what the console lists for the person they
    reach. Alerts about a closed complaint are done with and left out, so the list stays what
    still asks for someone's attention."""
    rows = await pool.fetch(
        """SELECT o.complaint_id, o.request->>'template' AS template, o.request->>'recipient_address' AS address,
                  o.request->'variables' AS variables, o.created_at, i.stage
           FROM workflow.outbox o LEFT JOIN workflow.inbox i ON i.complaint_id = o.complaint_id
           WHERE o.request->>'channel' = 'internal' AND o.request->>'recipient_address' = ANY($1::text[])
             AND i.stage IS DISTINCT FROM 'closed'
           ORDER BY o.position DESC LIMIT $2""",
        list(addresses),
        limit,
    )
    return [{**dict(r), "variables": json.loads(r["variables"] or "{}")} for r in rows]


PENDING = Gauge("outbox_pending_messages", "messages stored with their events, not yet handed to notify")
OLDEST = Gauge("outbox_oldest_pending_seconds", "age of the oldest message not yet handed to notify")


async def refresh_gauges(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        """SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age
           FROM workflow.outbox WHERE status = 'pending'"""
    )
    PENDING.set(row["n"])
    OLDEST.set(float(row["age"]))


Recipients = Callable[[dict], Awaitable[list[tuple[str, dict]]]]


class MessageRelay:
    """Hands pending outbox messages to notify, a batch per request (`POST
    /v1/notifications/batch`, each message under its Idempotency-Key): after a storm of
    deadlines the backlog goes over in a few round trips, not one per message. Several
    replicas may run it: rows are claimed with SKIP LOCKED and a lease."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        http: httpx.AsyncClient,
        notify_url: str,
        batch: int = 50,
        recipients: Recipients | None = None,
    ):
        """`http` carries the workflow service's token (see services/common/service_auth.py).
        `recipients` turns a message to a role into a copy per person (Router.recipients)."""
        self.pool, self.http, self.batch, self.recipients = pool, http, batch, recipients
        self.url = f"{notify_url.rstrip('/')}{BATCH_PATH}"

    async def one_pass(self) -> bool:
        """The relay loop's pass: more may be waiting only when it claimed a whole batch (a
        storm's messages are then taken in whole batches, not one pass per message)."""
        return await self.hand_over_due() >= self.batch

    async def hand_over_due(self) -> int:
        """One pass: claim what is due and hand it over; returns how many were claimed."""
        rows = await self.pool.fetch(
            """UPDATE workflow.outbox SET attempts = attempts + 1, next_attempt_at = now() + $2
               WHERE position IN (SELECT position FROM workflow.outbox
                                  WHERE status = 'pending' AND next_attempt_at <= now()
                                  ORDER BY position LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING position, idempotency_key, request, trace_context, attempts""",
            self.batch,
            CLAIM_LEASE,
        )
        if not rows:
            return 0
        copies, unsendable = [], []
        for row in sorted(rows, key=lambda r: r["position"]):
            try:
                copies.append((row, await self._items(row)))
            except ValidationError as exc:  # stored by an older version: set aside, never block the rest
                unsendable.append((row["position"], f"not a notification request: {exc}"[:1000]))
        if unsendable:
            await self._reject(unsendable)
        items = [item for _, mine in copies for item in mine]
        outcomes: dict[str, Acceptance] = {}
        failures: dict[str, str] = {}  # key -> why its request failed as a whole
        with tracer.start_as_current_span("hand over notifications", kind=trace.SpanKind.PRODUCER) as span:
            span.set_attribute("outbox.messages", len(rows))
            for start in range(0, len(items), MAX_BATCH):
                chunk = items[start : start + MAX_BATCH]
                error = await self._post(chunk, outcomes)
                failures.update({item.idempotency_key: error for item in chunk if error})
        await self._write_down(copies, outcomes, failures)
        return len(rows)

    async def _items(self, row: asyncpg.Record) -> list[HandedOverNotification]:
        """The row's message as batch items, a copy per recipient, each continuing the trace of
        the step that stored it (its own key, so a retry repeats no copy)."""
        with tracer.start_as_current_span(
            "hand over notification",
            context=propagate.extract(json.loads(row["trace_context"])),
            kind=trace.SpanKind.PRODUCER,
        ) as span:
            span.set_attribute("outbox.position", row["position"])
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
        items = []
        for suffix, body in await self._copies(row):
            key = f"{row['idempotency_key']}/{suffix}" if suffix else row["idempotency_key"]
            items.append(
                HandedOverNotification.model_validate({**body, "idempotency_key": key, "trace_context": carrier})
            )
        return items

    async def _post(self, chunk: list[HandedOverNotification], outcomes: dict[str, Acceptance]) -> str | None:
        """Hand over one batch; returns why it failed as a whole, or None."""
        try:
            response = await self.http.post(
                self.url,
                content=NotificationBatch(notifications=chunk).model_dump_json(),
                headers={"content-type": "application/json"},
            )
        except httpx.TransportError as exc:
            return f"notify unreachable: {exc!r}"
        if response.status_code != 200:
            # Even a 4xx for the whole batch (a notify without the batch form, during a rolling
            # upgrade) only delays: a message is never discarded for what its batch met.
            return f"notify answered {response.status_code}"
        for outcome in BatchAcceptance.model_validate_json(response.content).results:
            outcomes[outcome.idempotency_key] = outcome
        return None

    async def _write_down(
        self,
        copies: list[tuple[asyncpg.Record, list[HandedOverNotification]]],
        outcomes: dict[str, Acceptance],
        failures: dict[str, str],
    ) -> None:
        """A message is handed over when notify took every copy; rejected when it refused one
        for good (409, 422); otherwise tried again later."""
        handed_over, rejected, retry = [], [], []
        for row, mine in copies:
            keys = [item.idempotency_key for item in mine]
            failed = [failures.get(k, "notify gave no outcome") for k in keys if k not in outcomes]
            refused = [outcomes[k] for k in keys if k in outcomes and outcomes[k].status not in (200, 202)]
            if failed:
                retry.append((row, failed[0]))
            elif refused:
                rejected.append((row["position"], f"{refused[0].status} {(refused[0].error or '')[:900]}"))
                log.error(
                    "notify rejected a message",
                    extra={"idempotency_key": row["idempotency_key"], "status": refused[0].status},
                )
            else:
                handed_over.append((row["position"], outcomes[keys[0]].notification_id))
        if handed_over:
            await self.pool.executemany(
                """UPDATE workflow.outbox SET status = 'handed_over', handed_over_at = now(),
                       notification_id = $2, last_error = NULL WHERE position = $1""",
                handed_over,
            )
        if rejected:
            await self._reject(rejected)
        for row, error in retry:
            await self._retry_later(row, error)

    async def _reject(self, rejected: list[tuple[int, str]]) -> None:
        """A message notify will never take (unknown template, a key it holds for another body):
        kept with the reason for an operator; the complaint itself goes on."""
        await self.pool.executemany(
            "UPDATE workflow.outbox SET status = 'rejected', last_error = $2 WHERE position = $1", rejected
        )

    async def _copies(self, row: asyncpg.Record) -> list[tuple[str, dict]]:
        """(key suffix, body) per recipient: one as stored, or a copy per person of a role."""
        request = json.loads(row["request"])
        if self.recipients is None:
            return [("", request)]
        return await self.recipients(request)

    async def _retry_later(self, row: asyncpg.Record, error: str) -> None:
        backoff = min(2.0 ** row["attempts"], MAX_BACKOFF_SECONDS)
        await self.pool.execute(
            """UPDATE workflow.outbox SET last_error = $2, next_attempt_at = now() + make_interval(secs => $3)
               WHERE position = $1""",
            row["position"],
            error,
            backoff,
        )
        log.warning(
            "message not handed over; will retry",
            extra={"idempotency_key": row["idempotency_key"], "error": error, "retry_in_seconds": backoff},
        )
