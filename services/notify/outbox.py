"""The outbox: accept (store rendered, deduplicated by idempotency key), then deliver in the
background with retries and backoff. Several replicas can deliver at once (SKIP LOCKED)."""

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel

from services.notify.contract import Acceptance, KeyedNotificationRequest, NotificationRequest
from services.notify.providers import OutboundMessage, Provider
from services.notify.rendering import TemplateProblem, render

log = logging.getLogger(__name__)

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
    channel: str
    recipient_name: str
    recipient_address: str
    subject: str
    body: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None


class IdempotencyConflict(Exception):
    pass


def _hash(request: NotificationRequest) -> str:
    # Fields added later count only when set, so a request stored before them hashes the same.
    unset = {name for name in ("language", "fallbacks") if not getattr(request, name)}
    return hashlib.sha256(request.model_dump_json(exclude=unset).encode()).hexdigest()


_SELECT = """SELECT id AS notification_id, complaint_id, template, channel, recipient_name,
                    recipient_address, subject, body, status, attempts, created_at, delivered_at
             FROM notify.notifications"""


class Outbox:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.wake = asyncio.Event()

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

    async def accept_many(self, requests: Sequence[KeyedNotificationRequest]) -> list[Acceptance]:
        """Store each message once per key, all in one statement; an outcome per message, in order."""
        outcomes: dict[str, Acceptance] = {}
        new: list[tuple] = []
        for keyed in requests:
            request = keyed.request()
            try:
                subject, body = render(request)
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
                )
            )
        if new:
            async with self.pool.acquire() as conn:
                columns = list(zip(*new, strict=True))
                inserted = await conn.fetch(
                    """INSERT INTO notify.notifications (id, idempotency_key, request_hash, complaint_id, template,
                           channel, recipient_name, recipient_address, subject, body)
                       SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                            $7::text[], $8::text[], $9::text[], $10::text[])
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

    async def for_complaint(self, complaint_id: str) -> list[Notification]:
        rows = await self.pool.fetch(f"{_SELECT} WHERE complaint_id = $1 ORDER BY created_at", complaint_id)
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
                         due.previous_outcome""",
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
        )
        try:
            ref = await asyncio.wait_for(provider.deliver(message), timeout)
        except Exception as exc:  # noqa: BLE001 - any provider failure is retried with backoff
            error = (
                f"no answer from the provider within {timeout:.0f} s"
                if isinstance(exc, TimeoutError)
                else str(exc) or repr(exc)
            )
            given_up = row["attempts"] >= MAX_ATTEMPTS
            await self.pool.execute(
                """UPDATE notify.notifications SET last_error = $2, status = $3,
                       next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1""",
                row["id"],
                error[:1000],
                "failed" if given_up else "pending",
                float(min(2 ** row["attempts"], 600)),
            )
            log.warning("delivery failed", extra={"notification_id": notification_id, "error": error})
            return
        await self.pool.execute(
            """UPDATE notify.notifications SET status = 'delivered', delivered_at = now(),
                   provider_ref = $2, last_error = NULL WHERE id = $1""",
            row["id"],
            ref,
        )
