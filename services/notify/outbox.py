"""The outbox: accept (store rendered, deduplicated by idempotency key), then deliver in the
background with retries and backoff. Several replicas can deliver at once (SKIP LOCKED)."""

import asyncio
import hashlib
import logging
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError
from pydantic import BaseModel, Field

from services.notify.providers import OutboundMessage, Provider

log = logging.getLogger(__name__)

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text messages
    keep_trailing_newline=True,
)
MAX_ATTEMPTS = 10
CLAIM_LEASE = timedelta(minutes=2)  # a claimed message is retried if its worker dies


class NotificationIn(BaseModel):
    complaint_id: str | None = Field(default=None, max_length=100)
    template: str = Field(pattern=r"^[a-z_]{1,50}$")
    channel: str = Field(pattern=r"^(email|sms|internal)$", description="internal: staff roles and people")
    recipient_name: str = Field(min_length=1, max_length=200)
    recipient_address: str = Field(min_length=3, max_length=320)
    variables: dict = {}


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


class TemplateProblem(Exception):
    pass


class IdempotencyConflict(Exception):
    pass


def render(request: NotificationIn) -> tuple[str, str]:
    variables = {**request.variables, "recipient_name": request.recipient_name}
    try:
        subject = TEMPLATES.get_template(f"{request.template}.subject.j2").render(variables).strip()
        body = TEMPLATES.get_template(f"{request.template}.body.j2").render(variables)
    except TemplateNotFound as exc:
        raise TemplateProblem(f"unknown template '{request.template}'") from exc
    except UndefinedError as exc:
        raise TemplateProblem(f"template '{request.template}': {exc.message}") from exc
    return subject, body


def _hash(request: NotificationIn) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


_SELECT = """SELECT id AS notification_id, complaint_id, template, channel, recipient_name,
                    recipient_address, subject, body, status, attempts, created_at, delivered_at
             FROM notify.notifications"""


class Outbox:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool
        self.wake = asyncio.Event()

    async def accept(self, key: str, request: NotificationIn) -> tuple[Notification, bool]:
        """Store the notification once per key; returns (notification, created_now)."""
        subject, body = render(request)
        row = await self.pool.fetchrow(
            """INSERT INTO notify.notifications (id, idempotency_key, request_hash, complaint_id, template,
                   channel, recipient_name, recipient_address, subject, body)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING id""",
            uuid.uuid4(), key, _hash(request), request.complaint_id, request.template, request.channel,
            request.recipient_name, request.recipient_address, subject, body,
        )
        if row is None:
            existing = await self.pool.fetchrow(
                "SELECT id, request_hash FROM notify.notifications WHERE idempotency_key = $1", key
            )
            if existing["request_hash"] != _hash(request):
                raise IdempotencyConflict("this Idempotency-Key was used before for a different notification")
            return await self.get(existing["id"]), False
        self.wake.set()
        return await self.get(row["id"]), True

    async def get(self, notification_id: uuid.UUID) -> Notification | None:
        row = await self.pool.fetchrow(f"{_SELECT} WHERE id = $1", notification_id)
        return Notification(**dict(row)) if row else None

    async def for_complaint(self, complaint_id: str) -> list[Notification]:
        rows = await self.pool.fetch(f"{_SELECT} WHERE complaint_id = $1 ORDER BY created_at", complaint_id)
        return [Notification(**dict(r)) for r in rows]

    async def _claim(self, batch: int) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            """UPDATE notify.notifications SET attempts = attempts + 1, next_attempt_at = now() + $2
               WHERE id IN (SELECT id FROM notify.notifications
                            WHERE status = 'pending' AND next_attempt_at <= now()
                            ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               RETURNING id, channel, recipient_name, recipient_address, subject, body, attempts""",
            batch, CLAIM_LEASE,
        )

    async def deliver_due(self, provider: Provider, batch: int = 20) -> int:
        """Deliver what is due; returns how many were claimed."""
        rows = await self._claim(batch)
        for row in rows:
            message = OutboundMessage(
                notification_id=str(row["id"]), channel=row["channel"], recipient_name=row["recipient_name"],
                recipient_address=row["recipient_address"], subject=row["subject"], body=row["body"],
            )
            try:
                ref = await provider.deliver(message)
            except Exception as exc:  # noqa: BLE001 - any provider failure is retried with backoff
                given_up = row["attempts"] >= MAX_ATTEMPTS
                await self.pool.execute(
                    """UPDATE notify.notifications SET last_error = $2, status = $3,
                           next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1""",
                    row["id"], str(exc)[:1000], "failed" if given_up else "pending",
                    float(min(2 ** row["attempts"], 600)),
                )
                log.warning("delivery failed", extra={"notification_id": str(row["id"]), "error": str(exc)})
                continue
            await self.pool.execute(
                """UPDATE notify.notifications SET status = 'delivered', delivered_at = now(),
                       provider_ref = $2, last_error = NULL WHERE id = $1""",
                row["id"], ref,
            )
        return len(rows)
