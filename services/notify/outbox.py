"""The outbox: accept (store rendered, deduplicated by idempotency key), then deliver in the
background with retries and backoff. Several replicas can deliver at once (SKIP LOCKED)."""

import asyncio
import hashlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg
from prometheus_client import Gauge
from pydantic import BaseModel, computed_field

from services.common.erasure import ERASED
from services.common.privacy import scrub_text
from services.notify.contract import (
    STAFF_EMAIL_TEMPLATES,
    Acceptance,
    Audience,
    KeyedNotificationRequest,
    NotificationRequest,
    Undelivered,
    audience_of,
)
from services.notify.providers import DeliveryFailed, OutboundMessage, Provider
from services.notify.rendering import TemplateProblem, render
from services.notify.staff_words import StaffWords

log = logging.getLogger(__name__)

# What else a delivery records, in its transaction: (connection, notification id, channel,
# recipient address). Alert e-mail copies: alert_emails.keeping_copies.
Delivered = Callable[[asyncpg.Connection, uuid.UUID, str, str], Awaitable[None]]

MAX_ATTEMPTS = 10
# A provider call is given up after DELIVERY_TIMEOUT; a claim whose process died is taken up
# again after CLAIM_LEASE, which is longer, so a live delivery is never claimed twice.
DELIVERY_TIMEOUT_SECONDS = 20.0
CLAIM_LEASE = timedelta(seconds=30)
# Written at claim and cleared by the outcome: still there at the next claim, the process
# died mid-delivery and the message may have gone out (receivers drop it by Message-ID).
NO_OUTCOME = "claimed; no outcome recorded"


class Notification(BaseModel):
    notification_id: uuid.UUID
    complaint_id: str | None
    template: str
    channel: str  # the one it goes (or went) out on: a fallback once the first failed for good
    recipient_name: str
    recipient_address: str
    subject: str
    body: str
    status: str  # pending (queued), sent, delivered, failed (a dead letter)
    attempts: int
    last_error: str | None = None  # the provider's answer to the last failed attempt
    created_at: datetime
    sent_at: datetime | None = None
    delivered_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def audience(self) -> Audience:
        """Whom it is for: a customer's pages list only what is for the customer."""
        return audience_of(self.channel, self.template)


class DeliveryAttempt(BaseModel):
    attempt: int
    channel: str
    recipient_address: str
    outcome: str  # sent, delivered, retry, failed (for good on this address)
    answer: str | None
    at: datetime


class IdempotencyConflict(Exception):
    pass


def _hash(request: NotificationRequest) -> str:
    # Fields added later count only when set, so a request stored before them hashes the same.
    unset = {name for name in ("language", "fallbacks") if not getattr(request, name)}
    return hashlib.sha256(request.model_dump_json(exclude=unset).encode()).hexdigest()


_SELECT = """SELECT id AS notification_id, complaint_id, template, channel, recipient_name,
                    recipient_address, subject, body, status, attempts, last_error, created_at, sent_at,
                    delivered_at
             FROM notify.notifications"""


PENDING = Gauge("notifications_pending", "notifications accepted, not yet sent")
OLDEST = Gauge("notifications_oldest_pending_seconds", "age of the oldest notification not yet sent")
# A customer's dead letter told to its complaint is its handler's to act on (they call the
# customer): only the rest wait for an operator.
DEAD = Gauge("notifications_dead_letters", "notifications given up (failed) that no complaint's handler was told of")


async def refresh_gauges(pool: asyncpg.Pool) -> None:
    row = await pool.fetchrow(
        """SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
                  coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')), 0) AS age,
                  count(*) FILTER (WHERE status = 'failed' AND complaint_told_at IS NULL) AS dead
           FROM notify.notifications WHERE status IN ('pending', 'failed')"""
    )
    PENDING.set(row["pending"])
    OLDEST.set(float(row["age"]))
    DEAD.set(row["dead"])


def backoff(attempts: int) -> float:
    """Seconds before the next try: doubling up to 10 minutes, with jitter so that messages
    failing together (a provider down) do not come back together."""
    return min(2.0**attempts, 600.0) * random.uniform(0.5, 1.0)


class Outbox:
    def __init__(
        self, pool: asyncpg.Pool, on_delivered: Delivered | None = None, staff_words: StaffWords | None = None
    ):
        self.pool = pool
        self.staff_words = staff_words  # how staff alerts name people and groups
        self.wake = asyncio.Event()
        self.on_delivered = on_delivered  # in each delivery's transaction (alert_emails.keeping_copies)

    async def accept(self, key: str, request: NotificationRequest) -> tuple[Notification, bool]:
        """Store the notification once per key; returns (notification, created_now)."""
        keyed = KeyedNotificationRequest(**request.model_dump(), idempotency_key=key)
        (outcome,) = await self.accept_many([keyed])
        if outcome.status == 422:
            raise TemplateProblem(outcome.error)
        if outcome.status == 409:
            raise IdempotencyConflict(outcome.error)
        assert outcome.notification_id is not None
        return await self._stored(outcome.notification_id), outcome.status == 202

    async def accept_many(
        self, requests: Sequence[KeyedNotificationRequest], conn: asyncpg.Connection | None = None
    ) -> list[Acceptance]:
        """Store each message once per key, all in one statement; an outcome per message, in order.
        On `conn`, in the caller's transaction."""
        outcomes: dict[str, Acceptance] = {}
        new: list[tuple] = []
        for keyed in requests:
            request = keyed.request()
            try:
                subject, body = render(request, self.staff_words)
            except TemplateProblem as exc:
                outcomes[keyed.idempotency_key] = Acceptance(
                    idempotency_key=keyed.idempotency_key, status=422, error=str(exc)
                )
                continue
            new.append(
                (
                    uuid.uuid4(),
                    keyed.idempotency_key,
                    _hash(request),
                    request.complaint_id,
                    request.template,
                    request.channel,
                    request.recipient_name,
                    request.recipient_address,
                    subject,
                    body,
                    json.dumps([f.model_dump() for f in request.fallbacks]),
                    request.language,
                )
            )
        if new:
            async with _on(self.pool, conn) as conn:
                columns = list(zip(*new, strict=True))
                inserted = await conn.fetch(
                    """INSERT INTO notify.notifications (id, idempotency_key, request_hash, complaint_id, template,
                           channel, recipient_name, recipient_address, subject, body, fallbacks, language)
                       SELECT id, key, hash, complaint, template, channel, name, address, subject, body,
                              fallbacks::jsonb, language
                       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                   $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                            WITH ORDINALITY AS t(id, key, hash, complaint, template, channel, name, address,
                                                 subject, body, fallbacks, language, position)
                       ORDER BY position  -- accepted_order follows the batch's order
                       ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key, id""",
                    *[list(c) for c in columns],
                )
                for row in inserted:
                    key = row["idempotency_key"]
                    outcomes[key] = Acceptance(idempotency_key=key, status=202, notification_id=row["id"])
                hashes = {item[1]: item[2] for item in new}
                stored_before = await conn.fetch(
                    """SELECT idempotency_key, id, request_hash FROM notify.notifications
                       WHERE idempotency_key = ANY($1)""",
                    [key for key in hashes if key not in outcomes],
                )
            for row in stored_before:
                key = row["idempotency_key"]
                outcomes[key] = (
                    Acceptance(idempotency_key=key, status=200, notification_id=row["id"])
                    if row["request_hash"] == hashes[key]
                    else Acceptance(
                        idempotency_key=key,
                        status=409,
                        error="this Idempotency-Key was used before for a different notification",
                    )
                )
            if any(o.status == 202 for o in outcomes.values()):
                self.wake.set()
        return [outcomes[keyed.idempotency_key] for keyed in requests]

    async def _stored(self, notification_id: uuid.UUID) -> Notification:
        notification = await self.get(notification_id)
        if notification is None:
            raise RuntimeError(f"notification {notification_id} was stored and is gone")  # never deleted
        return notification

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        row = await self.pool.fetchrow(f"{_SELECT} WHERE id = $1", notification_id)
        return Notification(**dict(row)) if row else None

    async def attempts_of(self, notification_id: uuid.UUID) -> list[DeliveryAttempt]:
        rows = await self.pool.fetch(
            """SELECT attempt, channel, recipient_address, outcome, answer, at FROM notify.delivery_attempts
               WHERE notification_id = $1 ORDER BY id""",
            notification_id,
        )
        return [DeliveryAttempt(**dict(r)) for r in rows]

    async def retry(self, notification_id: uuid.UUID) -> Notification | None:
        """A dead letter back in the queue (an operator fixed the address or the provider)."""
        await self.pool.execute(
            """UPDATE notify.notifications SET status = 'pending', next_attempt_at = now(), attempts = 0,
                   complaint_told_at = NULL
               WHERE id = $1 AND status = 'failed'""",
            notification_id,
        )
        self.wake.set()
        return await self.get(notification_id)

    async def undelivered(self, limit: int) -> list[Undelivered]:
        """Customers' dead letters whose complaint has not been told yet, oldest first."""
        staff_only = sorted(STAFF_EMAIL_TEMPLATES)
        rows = await self.pool.fetch(
            """SELECT n.id AS notification_id, n.complaint_id, n.template, n.channel,
                      coalesce(n.last_error, 'given up') AS reason, tried.failed_at, tried.attempts_logged
               FROM notify.notifications n,
                    LATERAL (SELECT count(*) AS attempts_logged, coalesce(max(at), n.created_at) AS failed_at
                             FROM notify.delivery_attempts WHERE notification_id = n.id) tried
               WHERE n.status = 'failed' AND n.complaint_told_at IS NULL AND n.complaint_id IS NOT NULL
                 AND n.channel <> 'internal' AND NOT n.template = ANY($2::text[])
               ORDER BY n.created_at LIMIT $1""",
            limit,
            staff_only,
        )
        return [Undelivered(**{**dict(r), "reason": scrub_text(r["reason"])[:1000]}) for r in rows]

    async def told(self, notification_id: uuid.UUID, attempts_logged: int) -> bool:
        """The complaint knows of this failure; False when the message has moved since it was
        read (an operator's retry: its next failure is told of its own)."""
        done = await self.pool.fetchval(
            """UPDATE notify.notifications SET complaint_told_at = now()
               WHERE id = $1 AND status = 'failed'
                 AND (SELECT count(*) FROM notify.delivery_attempts WHERE notification_id = $1) = $2
               RETURNING true""",
            notification_id,
            attempts_logged,
        )
        return bool(done)

    async def record_receipt(
        self, notification_id: uuid.UUID, delivered: bool, answer: str, *, channel: str | None = None
    ) -> Notification | None:
        """A gateway's delivery receipt: delivered, or failed for good (the next address is
        tried). `channel`: only while the message is on it (a bounce is about an e-mail, not the
        text message tried next). The row is locked: the same receipt twice at once moves once."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                """SELECT attempts, channel, recipient_address, fallbacks, status FROM notify.notifications
                   WHERE id = $1 FOR UPDATE""",
                notification_id,
            )
            if row is None:
                return None
            if row["status"] in ("sent", "pending") and channel in (None, row["channel"]):
                if delivered:
                    await conn.execute(
                        """UPDATE notify.notifications SET status = 'delivered', delivered_at = now()
                           WHERE id = $1""",
                        notification_id,
                    )
                    await _log_attempt(conn, notification_id, row, "delivered", answer)
                else:
                    await self._failed_for_good(conn, notification_id, row, answer)
        return await self.get(notification_id)

    async def erase_complaint(self, complaint_id: str) -> int:
        """Erase the customer's data from a complaint's messages (services/common/erasure.py):
        who they went to and what they said go; template, channel, status and times stay. A
        message not yet delivered is given up: there is no one left to send it to."""
        async with self.pool.acquire() as conn, conn.transaction():
            ids = await conn.fetch(
                """UPDATE notify.notifications
                   SET recipient_name = $2, subject = $2, body = $2, fallbacks = '[]',
                       last_error = CASE WHEN status = 'pending' THEN 'erased: personal data erased on request'
                                         ELSE NULL END,
                       status = CASE WHEN status = 'pending' THEN 'failed' ELSE status END,
                       recipient_address = CASE WHEN channel = 'internal' THEN recipient_address ELSE $2 END,
                       -- given up on request: no handler is to call a customer who asked to be forgotten
                       complaint_told_at = coalesce(complaint_told_at, now())
                   WHERE complaint_id = $1 AND body <> $2
                   RETURNING id""",
                complaint_id,
                ERASED,
            )
            await conn.execute(
                """UPDATE notify.delivery_attempts SET answer = NULL,
                       recipient_address = CASE WHEN channel = 'internal' THEN recipient_address ELSE $2 END
                   WHERE notification_id IN (SELECT id FROM notify.notifications WHERE complaint_id = $1)""",
                complaint_id,
                ERASED,
            )
        return len(ids)

    async def for_complaint(self, complaint_id: str) -> list[Notification]:
        rows = await self.pool.fetch(f"{_SELECT} WHERE complaint_id = $1 ORDER BY accepted_order", complaint_id)
        return [Notification(**dict(r)) for r in rows]

    async def _claim(self, batch: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            """UPDATE notify.notifications n
               SET attempts = n.attempts + 1, next_attempt_at = now() + $2, last_error = $3
               FROM (SELECT id, last_error AS previous_outcome FROM notify.notifications
                     WHERE status = 'pending' AND next_attempt_at <= now()
                     ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
               WHERE n.id = due.id
               RETURNING n.id, n.channel, n.recipient_name, n.recipient_address, n.subject, n.body, n.attempts,
                         n.complaint_id, n.fallbacks, due.previous_outcome""",
            batch,
            CLAIM_LEASE,
            NO_OUTCOME,
        )

    async def deliver_due(self, provider: Provider, batch: int = 20, timeout: float = DELIVERY_TIMEOUT_SECONDS) -> int:
        """Deliver what is due, side by side; returns how many were claimed."""
        rows = await self._claim(batch)
        await asyncio.gather(*(self._deliver(provider, row, timeout) for row in rows))
        return len(rows)

    async def _deliver(self, provider: Provider, row: asyncpg.Record, timeout: float) -> None:
        notification_id = str(row["id"])
        if row["previous_outcome"] == NO_OUTCOME:
            log.warning(
                "delivering again after an attempt without outcome (notify stopped mid-delivery); "
                "receivers drop the repeat by Message-ID",
                extra={"notification_id": notification_id, "attempt": row["attempts"]},
            )
        message = OutboundMessage(
            notification_id=notification_id,
            channel=row["channel"],
            recipient_name=row["recipient_name"],
            recipient_address=row["recipient_address"],
            subject=row["subject"],
            body=row["body"],
            attempt=row["attempts"],
            complaint_id=row["complaint_id"],
        )
        try:
            delivery = await asyncio.wait_for(provider.deliver(message), timeout)
        except Exception as exc:  # noqa: BLE001 - any provider failure is retried or moved on
            await self._failed(row, exc, timeout)
            return
        outcome = "delivered" if delivery.confirmed else "sent"

        async def record() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    """UPDATE notify.notifications SET status = $3, sent_at = now(),
                           delivered_at = CASE WHEN $3 = 'delivered' THEN now() END,
                           provider_ref = $2, last_error = NULL WHERE id = $1""",
                    row["id"],
                    delivery.reference,
                    outcome,
                )
                await _log_attempt(conn, row["id"], row, outcome, delivery.answer)
                if self.on_delivered is not None:
                    await self.on_delivered(conn, row["id"], row["channel"], row["recipient_address"])

        await _until_recorded(record, notification_id)

    async def _failed(self, row: asyncpg.Record, exc: Exception, timeout: float) -> None:
        if isinstance(exc, TimeoutError):
            error = f"no answer from the provider within {timeout:.0f} s"
        else:
            error = (exc.answer if isinstance(exc, DeliveryFailed) else str(exc)) or repr(exc)
        notification_id = str(row["id"])
        async with self.pool.acquire() as conn, conn.transaction():
            if isinstance(exc, DeliveryFailed) and exc.permanent:
                await self._failed_for_good(conn, row["id"], row, error)
                return
            given_up = row["attempts"] >= MAX_ATTEMPTS
            await conn.execute(
                """UPDATE notify.notifications SET last_error = $2, status = $3,
                       next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1""",
                row["id"],
                error[:1000],
                "failed" if given_up else "pending",
                backoff(row["attempts"]),
            )
            await _log_attempt(conn, row["id"], row, "failed" if given_up else "retry", error)
        log.warning(
            "delivery failed" + ("; given up (dead letter)" if given_up else "; retried later"),
            extra={"notification_id": notification_id, "error": error, "attempt": row["attempts"]},
        )

    async def _failed_for_good(
        self, conn: asyncpg.Connection, notification_id: uuid.UUID, row: asyncpg.Record, error: str
    ) -> None:
        """This address will never work: the recipient's next one, or a dead letter."""
        await _log_attempt(conn, notification_id, row, "failed", error)
        fallbacks = json.loads(row["fallbacks"]) if isinstance(row["fallbacks"], str) else row["fallbacks"]
        if fallbacks:
            following, *rest = fallbacks
            await conn.execute(
                """UPDATE notify.notifications SET channel = $2, recipient_address = $3, fallbacks = $4::jsonb,
                       status = 'pending', next_attempt_at = now(), last_error = $5 WHERE id = $1""",
                notification_id,
                following["channel"],
                following["address"],
                json.dumps(rest),
                f"{row['channel']} failed for good, trying {following['channel']}: {error}"[:1000],
            )
            log.warning(
                "delivery failed for good; trying the next address",
                extra={"notification_id": str(notification_id), "error": error, "next": following["channel"]},
            )
            self.wake.set()
            return
        await conn.execute(
            "UPDATE notify.notifications SET status = 'failed', last_error = $2 WHERE id = $1",
            notification_id,
            error[:1000],
        )
        log.warning(
            "delivery failed for good and no other address is known (dead letter)",
            extra={"notification_id": str(notification_id), "error": error},
        )


@asynccontextmanager
async def _on(pool: asyncpg.Pool, conn: asyncpg.Connection | None) -> AsyncIterator[asyncpg.Connection]:
    """The caller's connection, or one from the pool."""
    if conn is not None:
        yield conn
    else:
        async with pool.acquire() as acquired:
            yield acquired


async def _until_recorded(record: Callable[[], Awaitable[None]], notification_id: str) -> None:
    """The message went out: its outcome must be written, or it is sent again once its claim
    runs out. While PostgreSQL is away, keep trying for most of the claim's lease."""
    deadline = asyncio.get_running_loop().time() + CLAIM_LEASE.total_seconds() * 0.8
    delay = 0.2
    while True:
        try:
            await record()
            return
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            if asyncio.get_running_loop().time() + delay > deadline:
                raise
            log.warning("outcome not recorded yet; trying again", extra={"notification_id": notification_id,
                                                                        "error": str(exc)})  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def _log_attempt(
    conn: asyncpg.Connection, notification_id: uuid.UUID, row: asyncpg.Record, outcome: str, answer: str
) -> None:
    await conn.execute(
        """INSERT INTO notify.delivery_attempts (notification_id, attempt, channel, recipient_address, outcome, answer)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        notification_id,
        row["attempts"],
        row["channel"],
        row["recipient_address"],
        outcome,
        (answer or "")[:1000],
    )
