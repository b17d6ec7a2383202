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

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import asyncpg
import httpx
from opentelemetry import propagate, trace

from services.notify.contract import NOTIFICATIONS_PATH, KeyedNotificationRequest

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

CLAIM_LEASE = timedelta(seconds=30)  # a claimed message is handed over again if its relay died
MAX_BACKOFF_SECONDS = 60.0  # never given up: a message waits for notify as long as it takes


async def enqueue(conn: asyncpg.Connection, messages: Sequence[KeyedNotificationRequest]) -> None:
    """Store messages inside the caller's transaction; a key stored before keeps its first body."""
    if not messages:
        return
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # the complaint's trace continues at the hand-over
    await conn.executemany(
        """INSERT INTO workflow.outbox (idempotency_key, complaint_id, request, trace_context)
           VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING""",
        [
            (m.idempotency_key, m.complaint_id, json.dumps(m.body(), ensure_ascii=False), json.dumps(carrier))
            for m in messages
        ],
    )


# Worth another try: a timeout, a rate limit, or a token notify does not know (yet): a
# misconfigured or rotating credential must delay messages, never discard them.
RETRYABLE = {401, 403, 408, 429}

Recipients = Callable[[dict], Awaitable[list[tuple[str, dict]]]]


class MessageRelay:
    """Hands pending outbox messages to notify (`POST /v1/notifications` with the message's
    Idempotency-Key). Several replicas may run it: rows are claimed with SKIP LOCKED and a lease."""

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
        self.url = f"{notify_url.rstrip('/')}{NOTIFICATIONS_PATH}"
        self.wake = asyncio.Event()  # set when this process stored messages: hand over at once

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
        await asyncio.gather(*(self._hand_over(row) for row in sorted(rows, key=lambda r: r["position"])))
        return len(rows)

    async def _hand_over(self, row: asyncpg.Record) -> None:
        context = propagate.extract(json.loads(row["trace_context"]))
        with tracer.start_as_current_span(
            "hand over notification", context=context, kind=trace.SpanKind.PRODUCER
        ) as span:
            span.set_attribute("outbox.position", row["position"])
            copies = await self._copies(row)
            try:
                for suffix, body in copies:  # each copy once: its own key, so a retry repeats none
                    key = f"{row['idempotency_key']}/{suffix}" if suffix else row["idempotency_key"]
                    response = await self.http.post(
                        self.url,
                        content=body,
                        headers={"Idempotency-Key": key, "content-type": "application/json"},
                    )
                    if response.status_code not in (200, 201, 202):
                        break
            except httpx.TransportError as exc:
                await self._retry_later(row, f"notify unreachable: {exc!r}")
                return
            if response.status_code in (200, 201, 202):
                await self.pool.execute(
                    """UPDATE workflow.outbox SET status = 'handed_over', handed_over_at = now(),
                           notification_id = $2, last_error = NULL WHERE position = $1""",
                    row["position"],
                    response.json().get("notification_id"),
                )
            elif response.status_code in RETRYABLE or response.status_code >= 500:
                await self._retry_later(row, f"notify answered {response.status_code}")
            else:
                # A message notify will never take (unknown template, a key it holds for another
                # body): kept with the reason for an operator; the complaint itself goes on.
                await self.pool.execute(
                    "UPDATE workflow.outbox SET status = 'rejected', last_error = $2 WHERE position = $1",
                    row["position"],
                    f"{response.status_code} {response.text[:900]}",
                )
                log.error(
                    "notify rejected a message",
                    extra={"idempotency_key": row["idempotency_key"], "status": response.status_code},
                )

    async def _copies(self, row: asyncpg.Record) -> list[tuple[str, str]]:
        """(key suffix, body) per recipient: one as stored, or a copy per person of a role."""
        if self.recipients is None:
            return [("", row["request"])]
        people = await self.recipients(json.loads(row["request"]))
        if len(people) == 1 and not people[0][0]:
            return [("", row["request"])]
        return [(suffix, json.dumps(body, ensure_ascii=False)) for suffix, body in people]

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
