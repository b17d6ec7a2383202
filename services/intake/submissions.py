"""Accepting a complaint: classify it, store it (deduplicated by Idempotency-Key and by channel
and external id), then start its workflow, or link it to the same customer's open complaint
about the same matter.

The row is committed before the 202 goes out; the background pass (`start_pending`) starts or
links whatever could not be handed to Temporal at once, so an accepted complaint always ends
up running. The same pass links batch incidents and warns managers of them (domain §3)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import field_validator

from services.common.settings import Settings
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.intake.batches import BatchIncidents
from services.intake.classification import Facts, Ruleset, load_rules
from services.intake.repeats import customer_keys, same_matter
from services.intake.starter import Starter
from services.workflow.contract import (
    ComplaintClient,
    ComplaintInput,
    ComplaintRecord,
)


class ComplaintSubmission(ComplaintRecord):
    """What a channel adapter sends: the complaint as the customer gave it."""

    @field_validator("occurred_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value > datetime.now(UTC) + timedelta(minutes=10):
            raise ValueError("is in the future; give the time it happened, with its time zone")
        return value

    def facts(self) -> Facts:
        text = " ".join(
            x for x in (self.subject, self.description, self.scenario, self.symptom, self.impact, self.demand) if x
        )
        return Facts(
            text=text,
            channel=self.channel.value,
            tags=tuple(t.lower() for t in self.channel_tags),
            segment=self.customer.segment,
            urgency_hint=self.urgency_hint,
        )


class IdempotencyConflict(Exception):
    def __init__(self, message: str, field: str = "Idempotency-Key"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Accepted:
    complaint_id: str
    tracking_token: str
    received_at: datetime
    replayed: bool
    repeat_of: str | None = None  # linked to this open complaint of the same customer


@dataclass(frozen=True)
class IntakeRules:
    """Classification and the windows for repeats and batches (from settings)."""

    classification: Ruleset
    repeat_window: timedelta = timedelta(hours=72)
    repeat_min_similarity: float = 0.35
    batch_window: timedelta = timedelta(hours=1)
    batch_min_customers: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> "IntakeRules":
        return cls(
            classification=load_rules(settings.classification_rules),
            repeat_window=timedelta(hours=settings.repeat_window_hours),
            repeat_min_similarity=settings.repeat_min_similarity,
            batch_window=timedelta(minutes=settings.batch_window_minutes),
            batch_min_customers=settings.batch_min_customers,
        )


def _hash(submission: ComplaintSubmission) -> str:
    return hashlib.sha256(submission.model_dump_json().encode()).hexdigest()


def new_complaint_id(received_at: datetime) -> str:
    """Short enough to read out on the phone, sortable by day: 20261122-9F3A1B2C."""
    return f"{received_at:%Y%m%d}-{secrets.token_hex(4).upper()}"


class Submissions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        complaints: ComplaintClient,
        intake_url: str,
        rules: IntakeRules,
        policy: str = "default",
        surge: SurgeMonitor | None = None,
        notify: StaffAlerts | None = None,
    ):
        self.pool, self.complaints, self.intake_url = pool, complaints, intake_url
        self.rules, self.policy, self.surge = rules, policy, surge
        self.starter = Starter(pool, complaints, self.page_url)
        self.batches = BatchIncidents(pool, complaints, rules.batch_window, rules.batch_min_customers, notify)
        # The passes the service's loops run, and tests call.
        self.start_pending = self.starter.start_pending
        self.flush_started = self.starter.flush_started
        self.check_causes = self.batches.check_causes
        self.process_batches = self.batches.process_batches

    def status_url(self, token: str) -> str:
        return f"{self.intake_url}/v1/track/{token}"

    def page_url(self, token: str) -> str:
        """The customer's page (HTML, no JavaScript): the link in every message we send them."""
        return f"{self.intake_url}/track/{token}"

    async def accept(self, key: str, submission: ComplaintSubmission, key_id: str = "") -> Accepted:
        """Store and hand over a submission. `key` (the Idempotency-Key, or the channel's own id)
        and the external reference identify a redelivery of the channel API key `key_id` only."""
        received_at = datetime.now(UTC)
        complaint_id, token = new_complaint_id(received_at), secrets.token_urlsafe(24)
        classification = self.rules.classification.classify(submission.facts())
        keys = customer_keys(submission.customer)
        earlier = await self.pool.fetch(
            """SELECT complaint_id, tracking_token, received_at, workflow_input->>'description' AS description,
                      cause FROM intake.submissions
               WHERE customer_keys && $1 AND repeat_of IS NULL ORDER BY received_at DESC LIMIT 20""",
            keys,
        )
        repeat = same_matter(
            earlier,
            submission.description,
            classification.cause,
            received_at,
            self.rules.repeat_window,
            self.rules.repeat_min_similarity,
        )
        overflow = self.surge.count_one(received_at) if self.surge else False
        workflow_input = ComplaintInput(
            complaint_id=complaint_id,
            received_at=received_at,
            status_url=self.page_url(repeat["tracking_token"] if repeat else token),
            policy=self.policy,
            classification=classification,
            earlier_complaints=[r["complaint_id"] for r in earlier],
            overflow=overflow,
            **submission.model_dump(),
        )
        row = await self.pool.fetchrow(
            """INSERT INTO intake.submissions (complaint_id, idempotency_key, request_hash, tracking_token,
                   channel, workflow_input, received_at, external_ref, customer_keys, repeat_of, cause, key_id)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT DO NOTHING RETURNING complaint_id""",
            complaint_id,
            key,
            _hash(submission),
            token,
            submission.channel.value,
            workflow_input.model_dump_json(),
            received_at,
            submission.external_ref,
            keys,
            repeat["complaint_id"] if repeat else None,
            None if repeat else classification.cause,
            key_id,
        )
        if row is None:
            existing = await self._existing(key, submission, key_id)
            if existing["request_hash"] != _hash(submission):
                what = "Idempotency-Key" if existing["idempotency_key"] == key else "external_ref"
                raise IdempotencyConflict(f"this {what} was used before for a different complaint", field=what)
            if existing["workflow_started_at"] is None:
                await self.starter.hand_over(existing, in_request=True)
            return await self._accepted(existing["complaint_id"], replayed=True)

        stored = {
            "complaint_id": complaint_id,
            "repeat_of": repeat["complaint_id"] if repeat else None,
            "workflow_input": workflow_input,
        }
        await self.starter.hand_over(stored, in_request=True)
        if repeat:  # linked, or started on its own if that complaint had closed: the row says which
            return await self._accepted(complaint_id, replayed=False)
        return Accepted(complaint_id, token, received_at, replayed=False)  # its cause: see check_causes

    async def _accepted(self, complaint_id: str, replayed: bool) -> Accepted:
        """What the adapter is told: for a linked repeat, the open complaint it joined."""
        row = await self.pool.fetchrow(
            """SELECT coalesce(o.complaint_id, s.complaint_id) AS complaint_id,
                      coalesce(o.tracking_token, s.tracking_token) AS tracking_token,
                      s.received_at, s.repeat_of
               FROM intake.submissions s LEFT JOIN intake.submissions o ON o.complaint_id = s.repeat_of
               WHERE s.complaint_id = $1""",
            complaint_id,
        )
        return Accepted(row["complaint_id"], row["tracking_token"], row["received_at"], replayed, row["repeat_of"])

    async def _existing(self, key: str, submission: ComplaintSubmission, key_id: str) -> asyncpg.Record:
        """The submission of the same channel API key this one repeats: same Idempotency-Key, or
        same channel and external id (a redelivered e-mail, a call event sent twice)."""
        return await self.pool.fetchrow(
            """SELECT complaint_id, idempotency_key, request_hash, tracking_token, received_at,
                      workflow_started_at, workflow_input, repeat_of
               FROM intake.submissions
               WHERE key_id = $4 AND (idempotency_key = $1 OR (channel = $2 AND external_ref = $3))
               ORDER BY (idempotency_key = $1) DESC LIMIT 1""",
            key,
            submission.channel.value,
            submission.external_ref,
            key_id,
        )

    async def after_accept(self) -> None:
        """What follows the 202, a few times a second (a supervised loop): mark started
        workflows, then look for batch incidents."""
        await self.flush_started()
        await self.check_causes()

    async def hand_over_pending(self) -> None:
        """The starter's pass (a supervised loop): start or link what could not be handed to
        Temporal at accept time, and link batch members."""
        await self.start_pending()
        await self.process_batches()

    async def by_token(self, token: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            """SELECT complaint_id, received_at, workflow_started_at, workflow_input,
                      coalesce((workflow_input->'customer'->>'erased')::boolean, false) AS erased
               FROM intake.submissions WHERE tracking_token = $1""",
            token,
        )
