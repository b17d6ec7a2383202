"""Intake's contract for other services: what the workflow service calls when it erases a
customer's personal data (services/workflow/erasure/), when staff ask for a complaint whose
workflow has not started yet, and when staff take a complaint down themselves
(services/workflow/recording.py). Side-effect free."""

from datetime import datetime

from pydantic import BaseModel

ERASURE_SCOPE_PATH = "/v1/erasure-scope/{complaint_id}"
ERASE_PATH = "/v1/erasures/{complaint_id}"
ACCEPTED_PATH = "/v1/accepted/{complaint_id}"
WAITING_PATH = "/v1/accepted"  # ?limit=: the accepted complaints whose workflow has not started
# POST a `ComplaintRecord` with `recorded_by` and an Idempotency-Key: a complaint staff took down.
STAFF_RECORDED_PATH = "/v1/staff-recorded"


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


class RecordedComplaint(BaseModel):
    """A complaint staff took down, as intake accepted it. No tracking token: that is the
    customer's, sent to them with the acknowledgement."""

    complaint_id: str  # for a repeat, the customer's open complaint it was added to
    received_at: datetime
    linked_to: str | None = None  # set when added to the same customer's open complaint about the same matter
    replayed: bool = False  # the same Idempotency-Key again: the first outcome, nothing new
