"""Root-cause reviews (source 003): a 5W1H review of a complaint or a batch incident (what,
why, who, when, where, how) with improvement actions, each with an owner and a deadline. An
action past its deadline is reminded to its owner once a day until it is done. A group lead
gives an open action to another owner when its owner is away; the new owner is told."""

import hashlib
import logging
import uuid
from datetime import UTC, datetime, tzinfo

import asyncpg
import httpx
from pydantic import BaseModel, Field, model_validator

from services.common.privacy import scrub_text
from services.common.web import ApiError, Moment
from services.notify.contract import NOTIFICATIONS_PATH, NotificationRequest
from services.reporting.access import Reader
from services.reporting.directory import Directory

log = logging.getLogger(__name__)

MY_ACTIONS = "/dashboard/reviews/mine"  # a person's improvement actions (review_page.py)
# What a review is about, as a message names it.
SUBJECT = "coalesce('complaint ' || r.complaint_id, 'batch incident ' || r.batch_id)"


class ActionBody(BaseModel):
    action: str = Field(min_length=1, max_length=2000)
    owner: str = Field(min_length=1, max_length=100, description="the staff id who carries it out")
    due_at: Moment = Field(description="from 2000 to 2099, with time zone")


class ReviewBody(BaseModel):
    complaint_id: str | None = Field(default=None, max_length=100)
    batch_id: str | None = Field(default=None, max_length=100)
    what: str = Field(min_length=1, max_length=4000, description="what happened")
    why: str = Field(min_length=1, max_length=4000, description="the root cause")
    who: str = Field(min_length=1, max_length=2000, description="who was involved")
    when: str = Field(min_length=1, max_length=500)
    where: str = Field(min_length=1, max_length=500)
    how: str = Field(min_length=1, max_length=4000, description="how it came about, and how it was handled")
    actions: list[ActionBody] = Field(default=[], max_length=50)

    @model_validator(mode="after")
    def _about_something(self) -> "ReviewBody":
        if not self.complaint_id and not self.batch_id:
            raise ValueError("name the complaint_id or the batch_id the review is about")
        return self


class OwnerBody(BaseModel):
    owner: str = Field(min_length=1, max_length=100, description="the staff id who carries the action on")


class ActionMove(BaseModel):
    from_owner: str
    to_owner: str
    moved_by: str
    moved_at: datetime


class Action(ActionBody):
    action_id: uuid.UUID
    review_id: uuid.UUID
    done_at: datetime | None = None
    done_by: str | None = None
    overdue: bool = False
    moves: list[ActionMove] = Field(default=[], description="the owners it had before, oldest first")


class Review(BaseModel):
    review_id: uuid.UUID
    complaint_id: str | None
    batch_id: str | None
    what: str
    why: str
    who: str
    when: str
    where: str
    how: str
    created_by: str
    created_at: datetime
    actions: list[Action]


async def check_owners(directory: Directory, reader: Reader, token: str | None, owners: dict[str, str]) -> None:
    """Improvement actions go to people on the roster (an owner nobody is would be reminded to
    nobody): a 422 naming the first unknown owner's field. The operator's token reads no roster."""
    if not token or reader.who == "operator":
        return
    unknown = await directory.off_roster(token, list(owners.values()))
    for field, owner in owners.items():
        if owner in unknown:
            raise ApiError(422, "unknown_owner", f"{field}: {owner} is not on the staff roster", field=field)


async def create(pool: asyncpg.Pool, body: ReviewBody, by: str, key: str | None = None) -> tuple[Review, bool]:
    """The review, and whether it was written just now (a 422 for a complaint or batch the reports
    do not know, a 409 for a key used for another review): sent again under the same key (a form
    submitted twice, a retried request), the first one is the answer. A key is the writer's own:
    another person's same key is another review."""
    scoped = f"{by}/{key}" if key else None
    digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    async with pool.acquire() as conn, conn.transaction():
        await _check_subject(conn, body)
        review_id = await conn.fetchval(
            """INSERT INTO reporting.reviews (review_id, complaint_id, batch_id, what, why, who, when_, where_, how,
                   created_by, idempotency_key, request_digest)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
               ON CONFLICT (idempotency_key) DO NOTHING RETURNING review_id""",
            uuid.uuid4(), body.complaint_id, body.batch_id,
            *(scrub_text(words) for words in (body.what, body.why, body.who, body.when, body.where, body.how)),
            by, scoped, digest,
        )  # fmt: skip
        written = review_id is not None
        if not written:
            first = await conn.fetchrow(
                "SELECT review_id, request_digest FROM reporting.reviews WHERE idempotency_key = $1", scoped
            )
            if first["request_digest"] != digest:
                raise ApiError(409, "idempotency_key_reused", f"Idempotency-Key {key} was used for another review",
                               field="Idempotency-Key")  # fmt: skip
            review_id = first["review_id"]
        else:
            for action in body.actions:
                await _add_action(conn, review_id, action)
    found = await get(pool, review_id)
    assert found is not None  # written just now, or before under this key
    return found, written


async def _check_subject(conn: asyncpg.Connection, body: ReviewBody) -> None:
    if body.complaint_id and not await conn.fetchval(
        "SELECT 1 FROM reporting.complaints WHERE complaint_id = $1", body.complaint_id
    ):
        raise _unknown("complaint_id", body.complaint_id)
    if body.batch_id and not await conn.fetchval(
        "SELECT 1 FROM reporting.complaints WHERE batch_id = $1 LIMIT 1", body.batch_id
    ):
        raise _unknown("batch_id", body.batch_id)


def _unknown(field: str, value: str) -> ApiError:
    kind = field.removesuffix("_id")
    message = f"{field}: no {kind} {value} in the reports (they follow the feed within seconds)"
    return ApiError(422, f"unknown_{kind}", message, field=field)


async def _add_action(conn: asyncpg.Connection, review_id: uuid.UUID, action: ActionBody) -> uuid.UUID:
    action_id = uuid.uuid4()
    await conn.execute(
        """INSERT INTO reporting.review_actions (action_id, review_id, action, owner, due_at)
           VALUES ($1, $2, $3, $4, $5)""",
        action_id, review_id, scrub_text(action.action), action.owner, action.due_at,
    )  # fmt: skip
    return action_id


async def add_action(pool: asyncpg.Pool, review_id: uuid.UUID, action: ActionBody) -> Review | None:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT 1 FROM reporting.reviews WHERE review_id = $1", review_id):
            return None
        await _add_action(conn, review_id, action)
    return await get(pool, review_id)


async def mark_done(pool: asyncpg.Pool, action_id: uuid.UUID, by: Reader) -> Action:
    """Its owner, or a group lead and up, marks an improvement action done (once: the first
    stands)."""
    owner = await pool.fetchval("SELECT owner FROM reporting.review_actions WHERE action_id = $1", action_id)
    if owner is None:
        raise ApiError(404, "not_found", f"no improvement action {action_id}", field="action_id")
    if by.who != owner and not by.at_least("group_lead"):
        raise ApiError(403, "forbidden", f"the action is {owner}'s; a group lead or above may close it for them")
    row = await pool.fetchrow(
        """UPDATE reporting.review_actions SET done_at = coalesce(done_at, now()), done_by = coalesce(done_by, $2)
           WHERE action_id = $1 RETURNING *""",
        action_id,
        by.who,
    )
    return _action(row)


async def give_to(pool: asyncpg.Pool, action_id: uuid.UUID, owner: str, by: Reader) -> Action:
    """A group lead and up gives an open improvement action to another owner. The move is kept
    and the new owner told (by the reminders' loop); an overdue action is reminded to them the
    same day. Given again to the one who has it, nothing changes (a retried request)."""
    if not by.at_least("group_lead"):
        raise ApiError(403, "forbidden", "a group lead or above gives an improvement action to another owner")
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT owner, done_at FROM reporting.review_actions WHERE action_id = $1 FOR UPDATE", action_id
        )
        if row is None:
            raise ApiError(404, "not_found", f"no improvement action {action_id}", field="action_id")
        if row["done_at"] is not None:
            raise ApiError(409, "action_done", "the action is done; add a new one to the review instead")
        if row["owner"] != owner:
            await conn.execute(
                "UPDATE reporting.review_actions SET owner = $2, reminded_on = NULL WHERE action_id = $1",
                action_id, owner,
            )  # fmt: skip
            await conn.execute(
                """INSERT INTO reporting.review_action_moves (move_id, action_id, from_owner, to_owner, moved_by)
                   VALUES ($1, $2, $3, $4, $5)""",
                uuid.uuid4(), action_id, row["owner"], owner, by.who,
            )  # fmt: skip
    found = await _actions(pool, "a.action_id = $1", action_id)
    return found[0]


class OwnedAction(BaseModel):
    """An improvement action as its owner reads it: with what the review was about."""

    action: Action
    complaint_id: str | None
    batch_id: str | None
    what: str
    why: str


async def owned_by(pool: asyncpg.Pool, owner: str) -> list[OwnedAction]:
    """A person's improvement actions: the open ones by deadline, then the latest done."""
    rows = await pool.fetch(
        """SELECT a.*, r.complaint_id, r.batch_id, r.what, r.why
           FROM reporting.review_actions a JOIN reporting.reviews r USING (review_id)
           WHERE a.owner = $1 AND (a.done_at IS NULL OR a.done_at > now() - interval '30 days')
           ORDER BY a.done_at IS NOT NULL, a.due_at, a.done_at DESC LIMIT 200""",
        owner,
    )
    return [
        OwnedAction(action=_action(r), **{k: r[k] for k in ("complaint_id", "batch_id", "what", "why")}) for r in rows
    ]


def _action(row: asyncpg.Record, moves: list[ActionMove] | None = None) -> Action:
    overdue = row["done_at"] is None and row["due_at"] < datetime.now(UTC)
    return Action(**{k: row[k] for k in ("action_id", "review_id", "action", "owner", "due_at", "done_at", "done_by")},
                  overdue=overdue, moves=moves or [])  # fmt: skip


async def _actions(pool: asyncpg.Pool, where: str, *args: object) -> list[Action]:
    """Improvement actions (`a`) by a condition, each with its moves, by deadline."""
    rows = await pool.fetch(f"SELECT a.* FROM reporting.review_actions a WHERE {where} ORDER BY a.due_at", *args)
    moves = await pool.fetch(
        """SELECT * FROM reporting.review_action_moves WHERE action_id = ANY($1) ORDER BY moved_at""",
        [r["action_id"] for r in rows],
    )
    fields = ("from_owner", "to_owner", "moved_by", "moved_at")
    by_action: dict[uuid.UUID, list[ActionMove]] = {}
    for m in moves:
        by_action.setdefault(m["action_id"], []).append(ActionMove(**{k: m[k] for k in fields}))
    return [_action(r, by_action.get(r["action_id"])) for r in rows]


async def get(pool: asyncpg.Pool, review_id: uuid.UUID) -> Review | None:
    found = await listed(pool, review_id=review_id)
    return found[0] if found else None


REVIEWS_PAGE = 50  # reviews a page shows; the next page starts after its last


async def listed(
    pool: asyncpg.Pool,
    status: str = "all",
    review_id: uuid.UUID | None = None,
    owner: str | None = None,
    after: uuid.UUID | None = None,
    limit: int = REVIEWS_PAGE,
) -> list[Review]:
    """Reviews with their actions, newest first; `open`: with an action not done, `closed`: all
    actions done; `owner`: those with an open action of that person's (a lead looking after an
    absent one's); `after`: the page that follows that review (a 422 for a review not there)."""
    if after is not None and not await pool.fetchval("SELECT 1 FROM reporting.reviews WHERE review_id = $1", after):
        raise ApiError(422, "unknown_review", f"after: no review {after}", field="after")
    rows = await pool.fetch(
        """SELECT * FROM reporting.reviews r
           WHERE ($1::uuid IS NULL OR review_id = $1)
             AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM reporting.review_actions a
                  WHERE a.review_id = r.review_id AND a.owner = $2 AND a.done_at IS NULL))
             AND ($3 = 'all' OR ($3 = 'open') = EXISTS (SELECT 1 FROM reporting.review_actions a
                  WHERE a.review_id = r.review_id AND a.done_at IS NULL))
             AND ($4::uuid IS NULL OR (r.created_at, r.review_id) <
                  (SELECT created_at, review_id FROM reporting.reviews WHERE review_id = $4))
           ORDER BY created_at DESC, review_id DESC LIMIT $5""",
        review_id, owner, status, after, limit,
    )  # fmt: skip
    by_review: dict[uuid.UUID, list[Action]] = {}
    for action in await _actions(pool, "a.review_id = ANY($1)", [r["review_id"] for r in rows]):
        by_review.setdefault(action.review_id, []).append(action)
    return [
        Review(
            **{k: row[k] for k in ("review_id", "complaint_id", "batch_id", "what", "why", "who", "how")},
            when=row["when_"],
            where=row["where_"],
            created_by=row["created_by"],
            created_at=row["created_at"],
            actions=by_review.get(row["review_id"], []),
        )  # fmt: skip
        for row in rows
    ]


class ActionMessages:
    """What owners of improvement actions are told (the console lists it, and their e-mail gets a
    copy): once a day per overdue action, a reminder to its owner, the day and the owner in the
    message's key; and an action given to them, once per move, the move's id its key. A retry
    sends each once; a pass that fails is logged by its loop and tried again on the next."""

    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, notify_url: str, console_url: str, zone: tzinfo):
        self.pool, self.http, self.url, self.zone = pool, http, f"{notify_url}{NOTIFICATIONS_PATH}", zone
        # The owner's own actions, through the console where they are signed in (MY_ACTIONS).
        self.page = f"{console_url}/reports?next={MY_ACTIONS}"

    async def send_once(self) -> int:
        return await self.tell_new_owners() + await self.remind_overdue()

    async def tell_new_owners(self) -> int:
        rows = await self.pool.fetch(
            f"""SELECT m.*, a.action, a.due_at, a.owner, {SUBJECT} AS subject
               FROM reporting.review_action_moves m JOIN reporting.review_actions a USING (action_id)
               JOIN reporting.reviews r USING (review_id)
               WHERE m.told_at IS NULL ORDER BY m.moved_at LIMIT 100"""
        )
        for row in rows:
            if row["to_owner"] == row["owner"]:  # given on again before they were told: only its last owner hears
                variables = {"from_owner": row["from_owner"], "moved_by": row["moved_by"]}
                await self._send("review_action_given", row, row["to_owner"], variables, f"given/{row['move_id']}")
            await self.pool.execute(
                "UPDATE reporting.review_action_moves SET told_at = now() WHERE move_id = $1", row["move_id"]
            )
        return len(rows)

    async def remind_overdue(self) -> int:
        today = datetime.now(self.zone).date()  # the staff's day, not the machine's
        rows = await self.pool.fetch(
            f"""SELECT a.*, {SUBJECT} AS subject
               FROM reporting.review_actions a JOIN reporting.reviews r USING (review_id)
               WHERE a.done_at IS NULL AND a.due_at < now() AND (a.reminded_on IS NULL OR a.reminded_on < $1)
               ORDER BY a.due_at LIMIT 100""",
            today,
        )
        for row in rows:
            key = f"overdue/{today.isoformat()}/{row['owner']}"  # a new owner is reminded the day they get it
            await self._send("review_action_overdue", row, row["owner"], {}, key)
            await self.pool.execute(  # unless given to another meanwhile, whom the next pass reminds
                "UPDATE reporting.review_actions SET reminded_on = $2 WHERE action_id = $1 AND owner = $3",
                row["action_id"], today, row["owner"],
            )  # fmt: skip
        return len(rows)

    async def _send(self, template: str, row: asyncpg.Record, owner: str, variables: dict, key: str) -> None:
        request = NotificationRequest(
            template=template,
            channel="internal",
            recipient_name=owner,
            recipient_address=f"staff:{owner}",
            variables={"action": row["action"], "action_id": str(row["action_id"]), "subject": row["subject"],
                       "due_at": row["due_at"].isoformat(), "timezone": None, "page": self.page, **variables},
        )  # fmt: skip
        answer = await self.http.post(
            self.url,
            json=request.model_dump(mode="json"),
            headers={"Idempotency-Key": f"review-action/{row['action_id']}/{key}"},
        )
        answer.raise_for_status()  # the loop logs it and tries again on its next pass
