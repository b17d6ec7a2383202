"""The event contract shared by the writer (workflow service) and readers (reporting).

Every domain event of a complaint is one row of the workflow service's event store; the
feed serves them in global-position order.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

# The stage each lifecycle event moves a complaint into: every read model follows it.
STAGE_AFTER = {
    "ComplaintReceived": "received",
    "Assigned": "assigned",
    "Acknowledged": "acknowledged",
    "InfoRequested": "waiting_on_customer",
    "CustomerReplied": "acknowledged",
    "Resolved": "resolved",
    "SurveyRequested": "awaiting_survey",
    "FollowUpRequested": "second_follow_up",
    # Resolved and open to reopening until Closed (complaints from before reopening close at once).
    "SurveyAnswered": "resolved",
    "SurveyExpired": "resolved",
    "FollowedUp": "resolved",
    "Reopened": "acknowledged",
    "Closed": "closed",
}


class NewEvent(BaseModel):
    """An event as the workflow records it: id and version are decided in the workflow,
    deterministically, so a retried append is recognised and never stored twice."""

    event_id: UUID
    stream_id: str
    version: int = Field(ge=1)
    type: str
    occurred_at: datetime
    data: dict[str, Any] = {}


class StoredEvent(NewEvent):
    position: int
    recorded_at: datetime


class EventPage(BaseModel):
    events: list[StoredEvent]
    next_after: int  # pass as `after` to read on; equals the request's `after` when empty
