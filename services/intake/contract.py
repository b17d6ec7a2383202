"""Intake's contract for other services: what the workflow service calls when it erases a
customer's personal data (services/workflow/erasure/), and when staff ask for a complaint whose
workflow has not started yet. Side-effect free."""

from datetime import datetime

from pydantic import BaseModel

ERASURE_SCOPE_PATH = "/v1/erasure-scope/{complaint_id}"
ERASE_PATH = "/v1/erasures/{complaint_id}"
ACCEPTED_PATH = "/v1/accepted/{complaint_id}"
WAITING_PATH = "/v1/accepted"  # ?limit=: the accepted complaints whose workflow has not started


class AcceptedSubmission(BaseModel):
    """A complaint intake accepted (202): its workflow runs under the same id once started."""

    complaint_id: str
    channel: str
    received_at: datetime
    started: bool


class WaitingComplaint(BaseModel):
    """An accepted complaint whose workflow has not started (Temporal unreachable since it came
    in), as a staff list shows it: personal data masked, tier and type as intake classified it."""

    complaint_id: str
    channel: str
    received_at: datetime
    tier: int | None = None
    complaint_type: str | None = None
    customer_name: str | None = None  # masked
    customer_contact: str | None = None  # masked
    summary: str = ""  # contact data masked


class WaitingComplaints(BaseModel):
    """The oldest first, up to the limit asked for; `total` counts them all."""

    complaints: list[WaitingComplaint]
    total: int


class ScopedComplaint(BaseModel):
    complaint_id: str
    linked: bool = False  # a repeat linked into another complaint: it has no workflow of its own


class ErasureScope(BaseModel):
    """Every complaint of the customer who made this one (same phone, e-mail or account)."""

    complaints: list[ScopedComplaint]
