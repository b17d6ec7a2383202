"""Accepting a complaint: classify it, store it (deduplicated by Idempotency-Key and by channel
and external id), then start its workflow, or link it to the same customer's open complaint
about the same matter.

The row is committed before the 202 goes out; the background pass (`start_pending`) starts or
links whatever could not be handed to Temporal at once, so an accepted complaint always ends
up running. The same pass links batch incidents and warns managers of them (domain §3)."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from pydantic import field_validator

from services.common.settings import Settings
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.intake.classification import Facts, Ruleset, load_rules
from services.workflow.contract import (
    ActionRefused,
    BatchLink,
    ComplaintClient,
    ComplaintClosed,
    ComplaintInput,
    ComplaintNotFound,
    ComplaintRecord,
    Customer,
    EngineUnavailable,
    RepeatSubmission,
)

log = logging.getLogger(__name__)


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


def customer_keys(customer: Customer) -> list[str]:
    """Hashed identities of a customer (phone, e-mail, account), to find their earlier complaints
    without indexing contact data."""
    found = []
    digits = "".join(c for c in customer.phone or "" if c.isdigit())
    if digits:
        found.append(f"phone:{digits[-11:]}")
    if customer.email:
        found.append(f"email:{str(customer.email).lower()}")
    if customer.account_id:
        found.append(f"account:{customer.account_id.strip().lower()}")
    return [hashlib.sha256(k.encode()).hexdigest()[:32] for k in found]


def _bigrams(text: str) -> set[str]:
    letters = "".join(c for c in text.lower() if c.isalnum())
    return {letters[i : i + 2] for i in range(len(letters) - 1)}


def similarity(a: str, b: str) -> float:
    """Overlap of character pairs (Jaccard): works for Chinese and English alike."""
    x, y = _bigrams(a), _bigrams(b)
    return len(x & y) / len(x | y) if x and y else 0.0


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
        self.rules, self.policy, self.surge, self.notify = rules, policy, surge, notify
        self._started: list[str] = []  # started, not yet marked: see flush_started

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
        repeat = self._same_matter(earlier, submission.description, classification.cause, received_at)
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
                await self._hand_over(existing, in_request=True)
            return await self._accepted(existing["complaint_id"], replayed=True)

        stored = {
            "complaint_id": complaint_id,
            "repeat_of": repeat["complaint_id"] if repeat else None,
            "workflow_input": workflow_input,
        }
        await self._hand_over(stored, in_request=True)
        if repeat:  # linked, or started on its own if that complaint had closed: the row says which
            return await self._accepted(complaint_id, replayed=False)
        return Accepted(complaint_id, token, received_at, replayed=False)  # its cause: see check_causes

    def _same_matter(
        self, earlier: list[asyncpg.Record], description: str, cause: str | None, received_at: datetime
    ) -> asyncpg.Record | None:
        """The customer's open complaint this one repeats: recent, and the same words or the same cause."""
        for row in earlier:
            if received_at - row["received_at"] > self.rules.repeat_window:
                break
            if (cause and row["cause"] == cause) or similarity(
                description, row["description"] or ""
            ) >= self.rules.repeat_min_similarity:
                return row
        return None

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

    async def _hand_over(self, row, in_request: bool = False) -> bool:
        """Start the complaint's workflow, or link a repeat to the open one. In a request the
        adapter waits for the answer, so a link that a busy or absent worker would hold up is
        left to the starter after 2 s: the row is stored, the 202 goes out."""
        complaint = row["workflow_input"]
        if isinstance(complaint, str):
            complaint = ComplaintInput.model_validate_json(complaint)
        if row["repeat_of"]:
            timeout = timedelta(seconds=2 if in_request else 10)
            return await self._link_repeat(complaint, row["repeat_of"], rpc_timeout=timeout)
        return await self._start(complaint)

    async def _link_repeat(
        self, complaint: ComplaintInput, original_id: str, rpc_timeout: timedelta = timedelta(seconds=10)
    ) -> bool:
        """Add the repeat to the open complaint (its words are kept there, the customer is told).
        If that complaint has closed meanwhile, this one starts as a complaint of its own."""
        repeat = RepeatSubmission(
            submission_id=complaint.complaint_id,
            channel=complaint.channel,
            received_at=complaint.received_at,
            description=complaint.description,
            demand=complaint.demand,
            similarity=round(similarity(complaint.description, await self._description_of(original_id)), 3),
        )
        try:
            await self.complaints.link_repeat(original_id, repeat, rpc_timeout=rpc_timeout)
        except ActionRefused:
            return await self._start_on_its_own(complaint)
        except (ComplaintClosed, ComplaintNotFound):
            original_started = await self.pool.fetchval(
                "SELECT workflow_started_at FROM intake.submissions WHERE complaint_id = $1", original_id
            )
            if original_started is not None:  # closed, or gone from the engine (retention)
                return await self._start_on_its_own(complaint)
            return False  # not started yet itself: the starter starts it first, then links this
        except EngineUnavailable as exc:
            # No worker took the update in time (workers down or busy): the starter links it later.
            log.warning(
                "linking a repeat failed; will retry",
                extra={"complaint_id": complaint.complaint_id, "error": exc.message},
            )
            return False
        await self._mark_started(complaint.complaint_id)
        return True

    async def _start_on_its_own(self, complaint: ComplaintInput) -> bool:
        token = await self.pool.fetchval(
            """UPDATE intake.submissions SET repeat_of = NULL WHERE complaint_id = $1 RETURNING tracking_token""",
            complaint.complaint_id,
        )
        return await self._start(complaint.model_copy(update={"status_url": self.page_url(token)}))

    async def _description_of(self, complaint_id: str) -> str:
        return (
            await self.pool.fetchval(
                "SELECT workflow_input->>'description' FROM intake.submissions WHERE complaint_id = $1", complaint_id
            )
            or ""
        )

    async def check_causes(self, limit: int = 1000) -> int:
        """Many customers, one cause, within the window: open (or join) a batch incident. Runs after
        the 202, for every complaint that came in since the last pass, one check per cause: while
        thousands complain about one outage, the work stays one statement per pass, not per complaint.
        Rows a pass of another replica holds are skipped, not waited for."""
        async with self.pool.acquire() as conn, conn.transaction():
            # A pass lost in a crash is lost whole and the rows are checked again: no need to wait
            # for the disk, which the submissions' own commits and the Temporal server need.
            await conn.execute("SET LOCAL synchronous_commit TO OFF")
            rows = await conn.fetch(
                """SELECT complaint_id, cause, received_at FROM intake.submissions
                   WHERE cause IS NOT NULL AND cause_checked_at IS NULL
                   ORDER BY received_at LIMIT $1 FOR NO KEY UPDATE SKIP LOCKED""",
                limit,
            )
            if not rows:
                return 0  # nothing came in: no update to send, five times a second
            by_cause: dict[str, list[asyncpg.Record]] = {}
            for row in rows:
                by_cause.setdefault(row["cause"], []).append(row)
            # No deadlock between replicas' passes: the causes' locks are taken in one order, and
            # NO KEY UPDATE lets another pass add these rows to an incident (a foreign key check).
            for cause in sorted(by_cause):
                await self._note_cause(conn, cause, by_cause[cause])
            await conn.execute(
                "UPDATE intake.submissions SET cause_checked_at = now() WHERE complaint_id = ANY($1)",
                [row["complaint_id"] for row in rows],
            )
        return len(rows)

    async def _note_cause(self, conn: asyncpg.Connection, cause: str, arrived: list[asyncpg.Record]) -> None:
        """Join the cause's open incident, or open one if enough customers complained within the
        window (all of their complaints become members)."""
        latest = max(row["received_at"] for row in arrived)
        since = latest - self.rules.batch_window
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('batch:' || $1))", cause)
        batch_id = await conn.fetchval(
            """UPDATE intake.batch_incidents SET last_seen_at = $2
               WHERE batch_id = (SELECT batch_id FROM intake.batch_incidents
                                 WHERE cause = $1 AND last_seen_at > $3 ORDER BY opened_at DESC LIMIT 1)
               RETURNING batch_id""",
            cause,
            latest,
            since,
        )
        members = [row["complaint_id"] for row in arrived]
        if batch_id is None:
            if (
                await conn.fetchval(
                    """SELECT count(DISTINCT customer_keys[1]) FROM intake.submissions
                       WHERE cause = $1 AND received_at > $2""",
                    cause,
                    since,
                )
                < self.rules.batch_min_customers
            ):
                return
            batch_id = f"B{latest:%Y%m%d}-{secrets.token_hex(3).upper()}"
            await conn.execute(
                "INSERT INTO intake.batch_incidents (batch_id, cause, opened_at, last_seen_at) VALUES ($1, $2, $3, $3)",
                batch_id,
                cause,
                latest,
            )
            members = [
                r["complaint_id"]
                for r in await conn.fetch(
                    "SELECT complaint_id FROM intake.submissions WHERE cause = $1 AND received_at > $2", cause, since
                )
            ]
        await conn.executemany(
            "INSERT INTO intake.batch_members (batch_id, complaint_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [(batch_id, m) for m in members],
        )

    async def process_batches(self) -> int:
        """Link batch members in their workflows and warn managers once per incident; what fails
        now is retried on the next pass."""
        done = 0
        rows = await self.pool.fetch(
            """SELECT m.batch_id, m.complaint_id, b.cause,
                      (SELECT count(DISTINCT s.customer_keys[1]) FROM intake.batch_members x
                         JOIN intake.submissions s USING (complaint_id) WHERE x.batch_id = m.batch_id) AS customers
               FROM intake.batch_members m JOIN intake.batch_incidents b USING (batch_id)
               JOIN intake.submissions s ON s.complaint_id = m.complaint_id
               WHERE m.linked_at IS NULL AND s.workflow_started_at IS NOT NULL
               ORDER BY m.batch_id LIMIT 200"""
        )
        for row in rows:
            link = BatchLink(batch_id=row["batch_id"], cause=row["cause"], customers=row["customers"])
            try:
                await self.complaints.link_batch(row["complaint_id"], link, rpc_timeout=timedelta(seconds=10))
            except (ActionRefused, ComplaintClosed, ComplaintNotFound):
                pass  # closed already: nothing to link, the incident still lists it
            except EngineUnavailable as exc:
                # No answer: the next pass tries again instead of waiting on every row.
                log.warning("batch link failed; will retry", extra={"batch_id": row["batch_id"], "error": exc.message})
                break
            await self.pool.execute(
                "UPDATE intake.batch_members SET linked_at = now() WHERE batch_id = $1 AND complaint_id = $2",
                row["batch_id"],
                row["complaint_id"],
            )
            done += 1
        if self.notify:
            for incident in await self.pool.fetch(
                """SELECT b.batch_id, b.cause, b.opened_at, count(m.complaint_id) AS complaints
                       FROM intake.batch_incidents b JOIN intake.batch_members m USING (batch_id)
                       WHERE b.warned_at IS NULL GROUP BY b.batch_id"""
            ):
                if await self.notify.batch_incident(incident["batch_id"], incident["cause"], incident["complaints"]):
                    await self.pool.execute(
                        "UPDATE intake.batch_incidents SET warned_at = now() WHERE batch_id = $1", incident["batch_id"]
                    )
        return done

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

    async def _start(self, complaint: ComplaintInput) -> bool:
        """Start the workflow once; on failure leave the row for `start_pending`."""
        try:
            await self.complaints.start(complaint)
        except EngineUnavailable as exc:
            log.warning(
                "workflow start failed; will retry",
                extra={"complaint_id": complaint.complaint_id, "error": exc.message},
            )
            return False
        await self._mark_started(complaint.complaint_id)
        return True

    async def _mark_started(self, complaint_id: str) -> None:
        self._started.append(complaint_id)

    async def flush_started(self) -> int:
        """Mark started workflows in one statement, without waiting for the disk: the mark only
        saves the starter work. If it is lost, the starter starts the workflow again, which
        Temporal answers with the running one. The submission itself was committed durably."""
        ids, self._started = self._started, []
        if ids:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute("SET LOCAL synchronous_commit TO OFF")
                await conn.execute(
                    "UPDATE intake.submissions SET workflow_started_at = now() WHERE complaint_id = ANY($1)", ids
                )
        return len(ids)

    async def after_accept(self) -> None:
        """What follows the 202, a few times a second (a supervised loop): mark started
        workflows, then look for batch incidents."""
        await self.flush_started()
        await self.check_causes()

    async def start_pending(self, older_than_seconds: float = 5.0) -> int:
        rows = await self.pool.fetch(
            """SELECT complaint_id, workflow_input, repeat_of FROM intake.submissions
               WHERE workflow_started_at IS NULL AND received_at < now() - make_interval(secs => $1)
               ORDER BY received_at LIMIT 100""",
            older_than_seconds,
        )
        started = 0
        for row in rows:
            started += await self._hand_over(row)
        return started

    async def hand_over_pending(self) -> None:
        """The starter's pass (a supervised loop): start or link what could not be handed to
        Temporal at accept time, and link batch members."""
        await self.start_pending()
        await self.process_batches()

    async def by_token(self, token: str) -> asyncpg.Record | None:
        return await self.pool.fetchrow(
            "SELECT complaint_id, received_at, workflow_started_at FROM intake.submissions WHERE tracking_token = $1",
            token,
        )
