"""The staff inbox: a read model of every complaint, one row each, for the staff list views.

The event store applies `changes_of` a step's events in the step's own statement, so the
inbox is never behind the events and a retried append changes nothing. Contact data is masked
before it is stored: the list views cannot show what the table does not hold. To find a
caller's complaints by their number or address, it keeps them hashed as well.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Gauge
from pydantic import BaseModel

from services.common import domain_events as ev
from services.common.customer_identity import keys_in_search, keys_of
from services.common.deadlines.policy import BETWEEN_STAFF
from services.common.erasure import ERASED
from services.common.events import STAGE_AFTER, NewEvent, StoredEvent
from services.common.privacy import masked_contact, masked_summary, scrub_text
from services.workflow.contract import ComplaintView, HistoryEntry
from services.workflow.permissions import Staff
from services.workflow.routing import RoutingConfig


class InboxItem(BaseModel):
    complaint_id: str
    channel: str | None
    received_at: datetime | None
    customer_name: str | None
    customer_contact: str | None  # masked
    account_id: str | None
    segment: str | None
    summary: str | None
    tier: int | None
    complaint_type: str | None
    urgency: str | None
    group_name: str | None
    assignee: str | None
    owner: str | None
    liaison: str | None
    stage: str
    next_deadline: datetime | None
    warned: bool = False
    breached: bool
    escalation_level: int
    transfer_to: str | None = None
    linked_count: int
    batch_id: str | None
    recorded_by: str | None = None
    consulted_groups: list[str] | None = None  # other groups asked for their view
    answer_by: datetime | None = None  # when they must answer (None: answered, or none asked)
    customer_not_reached: bool = False  # a message reached them on no address: call them instead


def _received(p: ev.ComplaintReceived, event: NewEvent) -> dict[str, Any]:
    customer = p.customer or {}
    return dict(
        channel=p.channel,
        received_at=p.received_at or event.occurred_at,
        customer_name=scrub_text(customer.get("name") or "") or None,
        customer_contact=masked_contact(customer),
        customer_keys=keys_of(customer),
        account_id=customer.get("account_id"),
        segment=customer.get("segment"),
        summary=masked_summary(p.subject, p.description),
        recorded_by=(p.model_extra or {}).get("recorded_by"),  # the staff member who took it down
    )


# The columns each event type sets, besides the stage and the next deadline.
_COLUMNS_SET_BY: dict[type[ev.DomainEvent], Callable[[Any, NewEvent], dict[str, Any]]] = {
    ev.ComplaintReceived: _received,
    ev.TierAssigned: lambda p, _: dict(tier=p.tier, complaint_type=p.complaint_type, urgency=p.urgency),
    ev.Assigned: lambda p, _: dict(group_name=p.group, assignee=p.assignee, liaison=p.liaison),
    ev.AssignedToPerson: lambda p, _: dict(assignee=p.assignee),
    ev.Acknowledged: lambda p, _: dict(owner=p.staff_id),
    ev.Retiered: lambda p, _: dict(tier=p.to_tier),
    ev.Reclassified: lambda p, _: dict(complaint_type=p.to_type),
    ev.SlaWarning: lambda p, _: dict(warned=True),
    ev.SlaBreached: lambda p, _: dict(breached=True) if p.target not in BETWEEN_STAFF else {},
    ev.Escalated: lambda p, _: dict(escalation_level=p.level),
    ev.RepeatLinked: lambda p, _: dict(linked_count=p.count),
    ev.BatchLinked: lambda p, _: dict(batch_id=p.batch_id),
    ev.CustomerNotReached: lambda p, _: dict(customer_not_reached=True),
    ev.CustomerReached: lambda p, _: dict(customer_not_reached=False),
    ev.TransferRequested: lambda p, _: dict(transfer_to=p.to_group),
    ev.ConsultationRequested: lambda p, _: dict(consulted_groups=p.consulted),
    ev.TransferAccepted: lambda p, _: dict(group_name=p.to_group, assignee=p.staff_id, transfer_to=None),
    ev.TransferDeclined: lambda p, _: dict(transfer_to=None),
    ev.Resolved: lambda p, _: dict(next_deadline=None, transfer_to=None, answer_by=None),
    ev.Reopened: lambda p, _: dict(assignee=p.assignee),
    ev.Closed: lambda p, _: dict(next_deadline=None, answer_by=None),
    ev.CustomerDataErased: lambda p, _: dict(
        customer_name=ERASED, customer_contact=None, customer_keys=[], account_id=None, summary=ERASED
    ),
}


def _changes(event: NewEvent) -> dict[str, Any]:
    """The inbox columns one event sets. Lenient: odd data leaves the columns as they were,
    and never stops an append."""
    changes: dict[str, Any] = {}
    if event.type in STAGE_AFTER:
        changes["stage"] = STAGE_AFTER[event.type]
    payload = ev.payload_of(event.type, event.data)
    deadlines = getattr(payload, "deadlines", None)
    if deadlines is not None:
        changes["next_deadline"] = min(deadlines.values(), default=None)
        changes["answer_by"] = deadlines.get("consultation_answer")
    if payload is not None and (columns := _COLUMNS_SET_BY.get(type(payload))):
        changes.update(columns(payload, event))
    return changes


def changes_of(events: list[NewEvent]) -> dict[str, Any]:
    """The inbox row's columns a step's events set, later events winning. The event store applies
    them in the step's own statement (`workflow.project_inbox`, migrations/013), so the inbox is
    never behind the events and a retried step changes nothing."""
    changes: dict = {}
    for event in events:
        changes.update(_changes(event))
    return changes


@dataclass(frozen=True)
class Filters:
    """What a staff list narrows to; None is any."""

    group: str | None = None
    groups: tuple[str, ...] | None = None  # any of these groups, or a transfer waiting for one of them
    person: str | None = None  # assigned, owning or liaising
    recorded_by: str | None = None  # who took it down
    consulted: tuple[str, ...] | None = None  # any of these groups was asked for its view
    assignee: str | None = None
    stage: str | None = None
    tier: int | None = None
    complaint_type: str | None = None
    channel: str | None = None
    breached: bool | None = None
    # a complaint id (or its start), a customer's name, masked contact or account, or their
    # phone number or e-mail address in full
    search: str | None = None
    open_only: bool = True


async def list_items(pool: asyncpg.Pool, filters: Filters, *, limit: int = 50, offset: int = 0) -> list[InboxItem]:
    """Most urgent first: the nearest deadline, then the oldest."""
    f = filters
    search = f"%{f.search.strip()}%" if f.search and f.search.strip() else None
    identities = keys_in_search(f.search) if f.search else []
    rows = await pool.fetch(
        """SELECT * FROM workflow.inbox
           WHERE ($1::text IS NULL OR group_name = $1) AND ($2::text IS NULL OR assignee = $2)
             AND ($3::text IS NULL OR stage = $3) AND (NOT $4 OR stage <> 'closed')
             AND ($5::boolean IS NULL OR breached = $5) AND received_at IS NOT NULL
             AND ($8::text[] IS NULL OR group_name = ANY($8) OR transfer_to = ANY($8))
             AND ($9::text IS NULL OR $9 IN (assignee, owner, liaison))
             AND ($10::int IS NULL OR tier = $10) AND ($11::text IS NULL OR complaint_type = $11)
             AND ($12::text IS NULL OR channel = $12) AND ($15::text IS NULL OR recorded_by = $15)
             AND ($16::text[] IS NULL OR consulted_groups && $16)
             AND ($13::text IS NULL OR complaint_id ILIKE $13 OR customer_name ILIKE $13
                  OR customer_contact ILIKE $13 OR account_id ILIKE $13 OR customer_keys && $14::text[])
           ORDER BY next_deadline NULLS LAST, received_at, complaint_id
           LIMIT $6 OFFSET $7""",
        f.group,
        f.assignee,
        f.stage,
        f.open_only,
        f.breached,
        limit,
        offset,
        list(f.groups) if f.groups is not None else None,
        f.person,
        f.tier,
        f.complaint_type,
        f.channel,
        search,
        identities,
        f.recorded_by,
        list(f.consulted) if f.consulted is not None else None,
    )
    return [InboxItem(**{k: v for k, v in dict(r).items() if k in InboxItem.model_fields}) for r in rows]


async def row_of(pool: asyncpg.Pool, complaint_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM workflow.inbox WHERE complaint_id = $1", complaint_id)


def recorded_view(row: asyncpg.Record | None, steps: Sequence[StoredEvent] = ()) -> ComplaintView | None:
    """The complaint as its events have recorded it, from its row here (and its `steps`, the
    stream's events, when given): what a person reads while the workflow engine cannot show the
    live view (no running deadlines, no actions to offer)."""
    if row is None or row["received_at"] is None or row["channel"] is None:
        return None  # its receipt is not recorded yet
    return ComplaintView.model_validate(
        {
            **{k: row[k] for k in ("complaint_id", "stage", "channel", "received_at", "tier", "complaint_type")},
            **{k: row[k] for k in ("owner", "assignee", "liaison", "batch_id", "next_deadline", "breached")},
            "group": row["group_name"],
            "repeats": row["linked_count"],
            "escalation_level": row["escalation_level"],
            "history": [HistoryEntry(type=e.type, at=e.occurred_at) for e in steps],
            "live": False,
        }
    )


async def open_counts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Open complaints per group: how many, breached, escalated (the console's team page)."""
    rows = await pool.fetch(
        """SELECT group_name, count(*) AS open, count(*) FILTER (WHERE breached) AS breached,
                  count(*) FILTER (WHERE escalation_level > 0) AS escalated
           FROM workflow.inbox WHERE stage NOT IN ('closed') AND received_at IS NOT NULL
           GROUP BY group_name ORDER BY group_name NULLS LAST"""
    )
    return [dict(r) for r in rows]


async def escalations_to(pool: asyncpg.Pool, staff: Staff, config: RoutingConfig) -> list[dict[str, Any]]:
    """Open complaints whose latest escalation went to a chain role this person holds, for the
    groups it names (a late consultation's asked departments), else the complaint's group or the
    group a transfer waits for (managers: every escalation to a manager)."""
    rows = await pool.fetch(
        """SELECT i.complaint_id, i.group_name, i.transfer_to, i.tier, i.escalation_level, i.next_deadline,
                  e.data->>'to' AS escalated_to, e.data->>'target' AS target, e.occurred_at,
                  e.data->'groups' AS escalated_groups
           FROM workflow.inbox i
           JOIN LATERAL (SELECT data, occurred_at FROM workflow.events x WHERE x.stream_id = i.complaint_id
                         AND x.type = 'Escalated' ORDER BY x.version DESC LIMIT 1) e ON true
           WHERE i.stage <> 'closed' AND i.escalation_level > 0
           ORDER BY e.occurred_at DESC LIMIT 500"""
    )

    def addressed_to_me(row: asyncpg.Record) -> bool:
        role = row["escalated_to"] or ""
        named = json.loads(row["escalated_groups"]) if row["escalated_groups"] else None
        groups = named or [g for g in (row["group_name"], row["transfer_to"]) if g]
        holds = any(staff.staff_id in config.holders(role, g) for g in groups)
        return holds or (role == "manager" and staff.at_least("manager"))

    return [dict(r) for r in rows if addressed_to_me(r)]


async def fill_customer_keys(pool: asyncpg.Pool, batch: int = 500) -> int:
    """Rows older than the customer's keys (migrations/015) get them from their ComplaintReceived
    event, as a new row gets them when it is projected. Returns how many rows were filled."""
    filled = 0
    while True:
        rows = await pool.fetch(
            """SELECT i.complaint_id, e.data->'customer' AS customer
               FROM workflow.inbox i
               LEFT JOIN workflow.events e ON e.stream_id = i.complaint_id AND e.type = 'ComplaintReceived'
               WHERE i.customer_keys IS NULL LIMIT $1""",
            batch,
        )
        await pool.executemany(
            "UPDATE workflow.inbox SET customer_keys = $2 WHERE complaint_id = $1 AND customer_keys IS NULL",
            [(r["complaint_id"], keys_of(json.loads(r["customer"]) if r["customer"] else None)) for r in rows],
        )
        filled += len(rows)
        if len(rows) < batch:
            return filled


OPEN = Gauge("complaints_open", "open complaints by stage and tier", ["stage", "tier"])
OVERDUE = Gauge(
    "complaints_nearest_deadline_overdue_seconds", "how far past its deadline the most overdue open complaint is"
)


async def refresh_gauges(pool: asyncpg.Pool) -> None:
    """For the on-call person (services/common/metrics.py): what is open, and how late."""
    rows = await pool.fetch(
        """SELECT stage, coalesce(tier::text, 'none') AS tier, count(*) AS n FROM workflow.inbox
           WHERE stage <> 'closed' AND received_at IS NOT NULL GROUP BY 1, 2"""
    )
    OPEN.clear()
    for row in rows:
        OPEN.labels(row["stage"], row["tier"]).set(row["n"])
    overdue = await pool.fetchval(
        """SELECT coalesce(extract(epoch FROM now() - min(next_deadline)), 0) FROM workflow.inbox
           WHERE stage <> 'closed' AND next_deadline < now()"""
    )
    OVERDUE.set(max(0.0, float(overdue or 0)))
