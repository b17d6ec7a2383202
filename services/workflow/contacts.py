"""A customer's contact in full, for the person who calls them back (source 003: the engineer
phones the customer with the progress), while every list and view shows it masked (domain §4).

Whoever may act on the complaint may see it (permissions.py), one complaint at a time, and
each showing is recorded: who, when and why. The reason is chosen from a list, not typed, so
the record names no customer and outlives an erasure; an erased customer has no contact left
to show.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, Field

from services.common import domain_events as ev
from services.common.erasure import was_erased
from services.common.web import ApiError
from services.workflow.acting import Desk
from services.workflow.contract import MessagingAddress
from services.workflow.eventstore import EventStore
from services.workflow.permissions import Staff

SEE_CONTACT = "see_contact"  # the permission's name (permissions.refusal)


# Why a person asks for a customer's contact (the console's words: console/labels.py).
Purpose = Literal["call_back", "confirm_identity", "written_result", "follow_up"]


class ContactRequest(BaseModel):
    purpose: Purpose = Field(description="why, for the record")


class CustomerContact(BaseModel):
    """The customer as they gave themselves; shown once, to the person who asked."""

    complaint_id: str
    name: str
    phone: str | None = None
    email: str | None = None
    preferred_channel: str | None = None
    messaging: MessagingAddress | None = None  # their account on the channel they complained on
    shown_at: datetime


class ContactShowing(BaseModel):
    """One time a person was shown a customer's contact."""

    staff_id: str
    purpose: Purpose
    shown_at: datetime


def customer_of(received: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The customer record a complaint's receipt holds; None once it is erased."""
    customer = (received or {}).get("customer") or {}
    return None if was_erased(customer) else customer


async def show(
    pool: asyncpg.Pool, events: EventStore, desk: Desk, staff: Staff, complaint_id: str, purpose: Purpose
) -> CustomerContact:
    """The contact as the complaint's receipt recorded it, if this person may act on the
    complaint (403 otherwise), recorded as shown to them; 410 once the customer is erased."""
    await desk.permit(staff, complaint_id, SEE_CONTACT)
    received = next((e for e in await events.read_stream(complaint_id) if e.type == ev.ComplaintReceived.type), None)
    customer = customer_of(received.data if received else None)
    if customer is None:
        raise ApiError(410, "erased", "the customer's contact data was erased on request", field="complaint_id")
    shown_at = await pool.fetchval(
        """INSERT INTO workflow.contact_showings (complaint_id, staff_id, purpose) VALUES ($1, $2, $3)
           RETURNING shown_at""",
        complaint_id,
        staff.staff_id,
        purpose,
    )
    return CustomerContact(
        complaint_id=complaint_id,
        name=customer.get("name") or "",
        phone=customer.get("phone"),
        email=customer.get("email"),
        preferred_channel=customer.get("preferred_channel"),
        messaging=customer.get("messaging"),
        shown_at=shown_at,
    )


async def showings(pool: asyncpg.Pool, complaint_id: str, limit: int = 50) -> list[ContactShowing]:
    """Who was shown the complaint's customer contact, the latest first."""
    rows = await pool.fetch(
        """SELECT staff_id, purpose, shown_at FROM workflow.contact_showings
           WHERE complaint_id = $1 ORDER BY shown_at DESC, showing_id DESC LIMIT $2""",
        complaint_id,
        limit,
    )
    return [ContactShowing(**dict(r)) for r in rows]
