"""Accepting a complaint: store it (deduplicated by Idempotency-Key), then start its workflow.

The row is committed before the 202 goes out; `start_pending` starts any workflow whose
start failed (Temporal down), so an accepted complaint always ends up running."""

import asyncio
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

import asyncpg
from pydantic import AwareDatetime, Field
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.workflow.domain import Attachment, Channel, ComplaintInput, Customer, Text
from services.workflow.workflows import ComplaintWorkflow, static_summary, workflow_id_for

log = logging.getLogger(__name__)


class ComplaintSubmission(Text):
    """What a channel adapter sends: the complaint as the customer gave it."""

    channel: Channel
    customer: Customer
    description: str = Field(min_length=1, max_length=10_000, description="the problem in the customer's words")
    occurred_at: AwareDatetime | None = Field(default=None, description="when it happened, with time zone")
    demand: str | None = Field(default=None, max_length=2000, description="what the customer expects")
    urgency_hint: Literal["high", "medium", "low"] | None = Field(
        default=None, description="the channel's own urgency signal (IVR key, form box)"
    )
    external_ref: str | None = Field(default=None, max_length=200,
                                     description="the channel's own id; the same id twice is the same complaint")
    subject: str | None = Field(default=None, max_length=500)
    attachments: list[Attachment] = Field(default=[], max_length=100)
    recorded_by: str | None = Field(default=None, max_length=100, description="the agent who took it down")
    channel_tags: list[str] = Field(default=[], max_length=20, description="IVR keys, handles, source hints")


class IdempotencyConflict(Exception):
    pass


@dataclass(frozen=True)
class Accepted:
    complaint_id: str
    tracking_token: str
    received_at: datetime
    replayed: bool


def _hash(submission: ComplaintSubmission) -> str:
    return hashlib.sha256(submission.model_dump_json().encode()).hexdigest()


def new_complaint_id(received_at: datetime) -> str:
    """Short enough to read out on the phone, sortable by day: 20261122-9F3A1B2C."""
    return f"{received_at:%Y%m%d}-{secrets.token_hex(4).upper()}"


class Submissions:
    def __init__(self, pool: asyncpg.Pool, temporal: Client, task_queue: str, intake_url: str,
                 policy: str = "default"):
        self.pool, self.temporal, self.task_queue, self.intake_url = pool, temporal, task_queue, intake_url
        self.policy = policy

    def status_url(self, token: str) -> str:
        return f"{self.intake_url}/v1/track/{token}"

    def page_url(self, token: str) -> str:
        """The customer's page (HTML, no JavaScript): the link in every message we send them."""
        return f"{self.intake_url}/track/{token}"

    async def accept(self, key: str, submission: ComplaintSubmission) -> Accepted:
        received_at = datetime.now(timezone.utc)
        complaint_id, token = new_complaint_id(received_at), secrets.token_urlsafe(24)
        workflow_input = ComplaintInput(
            complaint_id=complaint_id,
            received_at=received_at,
            status_url=self.page_url(token),
            policy=self.policy,
            **submission.model_dump(),
        )
        row = await self.pool.fetchrow(
            """INSERT INTO intake.submissions (complaint_id, idempotency_key, request_hash, tracking_token,
                   channel, workflow_input, received_at, external_ref)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
               ON CONFLICT DO NOTHING RETURNING complaint_id""",
            complaint_id, key, _hash(submission), token, submission.channel.value,
            workflow_input.model_dump_json(), received_at, submission.external_ref,
        )
        if row is None:
            existing = await self._existing(key, submission)
            if existing["idempotency_key"] == key and existing["request_hash"] != _hash(submission):
                raise IdempotencyConflict("this Idempotency-Key was used before for a different complaint")
            if existing["workflow_started_at"] is None:
                await self._start(ComplaintInput.model_validate_json(existing["workflow_input"]))
            return Accepted(existing["complaint_id"], existing["tracking_token"], existing["received_at"], True)

        await self._start(workflow_input)
        return Accepted(complaint_id, token, received_at, False)

    async def _existing(self, key: str, submission: ComplaintSubmission) -> asyncpg.Record:
        """The submission this one repeats: same Idempotency-Key, or same channel and external id
        (a redelivered e-mail, a call event sent twice)."""
        return await self.pool.fetchrow(
            """SELECT complaint_id, idempotency_key, request_hash, tracking_token, received_at,
                      workflow_started_at, workflow_input
               FROM intake.submissions
               WHERE idempotency_key = $1 OR (channel = $2 AND external_ref = $3)
               ORDER BY (idempotency_key = $1) DESC LIMIT 1""",
            key, submission.channel.value, submission.external_ref,
        )

    async def _start(self, complaint: ComplaintInput) -> bool:
        """Start the workflow once; on failure leave the row for `start_pending`."""
        try:
            await self.temporal.start_workflow(
                ComplaintWorkflow.run,
                complaint,
                id=workflow_id_for(complaint.complaint_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                static_summary=static_summary(complaint),
            )
        except WorkflowAlreadyStartedError:
            pass  # started before, and already closed
        except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazy client that cannot connect
            log.warning("workflow start failed; will retry", extra={"complaint_id": complaint.complaint_id,
                                                                    "error": str(exc)})
            return False
        await self.pool.execute(
            "UPDATE intake.submissions SET workflow_started_at = now() WHERE complaint_id = $1",
            complaint.complaint_id,
        )
        return True

    async def start_pending(self, older_than_seconds: float = 5.0) -> int:
        rows = await self.pool.fetch(
            """SELECT workflow_input FROM intake.submissions
               WHERE workflow_started_at IS NULL AND received_at < now() - make_interval(secs => $1)
               ORDER BY received_at LIMIT 100""",
            older_than_seconds,
        )
        started = 0
        for row in rows:
            started += await self._start(ComplaintInput.model_validate_json(row["workflow_input"]))
        return started

    async def run_starter(self, poll_seconds: float = 2.0) -> None:
        while True:
            try:
                await self.start_pending()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("starter pass failed", extra={"error": str(exc)})
            await asyncio.sleep(poll_seconds)

    async def by_token(self, token: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "SELECT complaint_id, received_at, workflow_started_at FROM intake.submissions WHERE tracking_token = $1",
            token,
        )
