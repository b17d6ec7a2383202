"""The payload of every domain event, one pydantic model per type: written by the workflow,
read by the staff inbox and by reporting through `payload_of` (one dispatch by type).

Readers are lenient by design: an event stored by an older generation may lack a field (it
reads as None), and one from a newer writer may carry more (kept, not refused). Times the
workflow writes keep the ISO form it always stored (`+00:00`), so a payload written today
equals the one an older worker wrote for the same step.
"""

import logging
from datetime import datetime
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, ValidationError

log = logging.getLogger(__name__)

IsoTime = Annotated[datetime, PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json")]
Deadlines = dict[str, IsoTime]  # running targets -> when each is due


class DomainEvent(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = cls.__name__

    def data(self) -> dict[str, Any]:
        """As stored: only the fields the writer set, so optional ones it left out stay out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------- receipt (domain §1, §2, §3)


class ComplaintReceived(DomainEvent):
    """The record as intake accepted it (contact data masked only where it leaves the service)."""

    channel: str | None = None
    received_at: datetime | None = None
    customer: dict[str, Any] = {}
    description: str | None = None
    subject: str | None = None


class TierAssigned(DomainEvent):
    tier: int | None = None
    complaint_type: str | None = None
    urgency: str | None = None
    responsibility: str | None = None
    scope: str | None = None
    difficulty: str | None = None
    rule: str | None = None
    reason: str | None = None
    reason_zh: str | None = None  # the reason in Chinese, for the console
    decided_by: list[dict[str, Any]] = []
    rules_version: str | None = None
    needs_review: bool = False  # nothing recognised it: tier 2 until staff confirm or correct it
    policy: str | None = None
    deadlines: Deadlines | None = None


class Assigned(DomainEvent):
    group: str | None = None
    assignee: str | None = None
    liaison: str | None = None
    rule: str | None = None
    reason: str | None = None
    reason_zh: str | None = None  # the reason in Chinese, for the console
    strategy: str | None = None


class AutoReplySent(DomainEvent):
    handling_starts_at: IsoTime | None = None


# ---------------------------------------------------------------- handling (§4, §5)


class Acknowledged(DomainEvent):
    staff_id: str | None = None
    note: str | None = None
    deadlines: Deadlines | None = None


class AssignedToPerson(DomainEvent):
    staff_id: str | None = None
    assignee: str | None = None
    note: str | None = None


class ProgressPosted(DomainEvent):
    staff_id: str | None = None
    message: str | None = None
    deadlines: Deadlines | None = None


class SolutionPlanGiven(DomainEvent):
    """The customer was told the plan (source 000, tier 1: a solution within 2 h)."""

    staff_id: str | None = None
    plan: str | None = None
    deadlines: Deadlines | None = None


class TransferRequested(DomainEvent):
    staff_id: str | None = None
    from_group: str | None = None
    to_group: str | None = None
    reason: str | None = None
    liaison: str | None = None  # the receiving group's member asked to accept it
    deadlines: Deadlines | None = None


class TransferAccepted(DomainEvent):
    """The receiving department took it; `waited_seconds` is the time to accept (reports)."""

    staff_id: str | None = None
    from_group: str | None = None
    to_group: str | None = None
    waited_seconds: float | None = None
    deadlines: Deadlines | None = None


class TransferDeclined(DomainEvent):
    staff_id: str | None = None
    from_group: str | None = None
    to_group: str | None = None
    reason: str | None = None
    waited_seconds: float | None = None
    deadlines: Deadlines | None = None


class NoteAdded(DomainEvent):
    """An internal note: staff only (the customer's page and messages never show it)."""

    staff_id: str | None = None
    text: str | None = None


class ConsultationRequested(DomainEvent):
    """Other departments asked for their view (source 002's joint consultation); staff only."""

    staff_id: str | None = None
    groups: list[str] | None = None
    question: str | None = None
    liaisons: dict[str, str | None] | None = None
    consulted: list[str] | None = None  # every group asked so far, for the inbox
    deadlines: Deadlines | None = None  # with the answer's (the policy's consultation_answer)


class ConsultationAnswered(DomainEvent):
    staff_id: str | None = None
    group: str | None = None
    answer: str | None = None
    deadlines: Deadlines | None = None  # without the answer's once every group asked has answered


class CompensationProposed(DomainEvent):
    """`status`: granted at once (within the proposer's authority) or pending `approver_role`."""

    staff_id: str | None = None
    kind: str | None = None
    amount: float | None = None
    reason: str | None = None
    status: str | None = None
    approver_role: str | None = None
    deadlines: Deadlines | None = None


class CompensationDecided(DomainEvent):
    staff_id: str | None = None
    kind: str | None = None
    amount: float | None = None
    approved: bool | None = None
    note: str | None = None
    waited_seconds: float | None = None
    deadlines: Deadlines | None = None


class InfoRequested(DomainEvent):
    staff_id: str | None = None
    question: str | None = None


class ClockPaused(DomainEvent):
    at: IsoTime | None = None


class CustomerReplied(DomainEvent):
    message: str | None = None


class ClockResumed(DomainEvent):
    paused_seconds: float | None = None
    deadlines: Deadlines | None = None


class Retiered(DomainEvent):
    staff_id: str | None = None
    from_tier: int | None = None
    to_tier: int | None = None
    reason: str | None = None
    deadlines: Deadlines | None = None


class Reclassified(DomainEvent):
    """Staff corrected the type or the responsibility intake decided."""

    staff_id: str | None = None
    from_type: str | None = None
    to_type: str | None = None
    from_responsibility: str | None = None
    to_responsibility: str | None = None
    reason: str | None = None


class PolicyApplied(DomainEvent):
    staff_id: str | None = None
    from_policy: str | None = Field(default=None, alias="from")
    to_policy: str | None = Field(default=None, alias="to")
    deadlines: Deadlines | None = None


class RepeatLinked(DomainEvent):
    submission_id: str | None = None
    channel: str | None = None
    received_at: datetime | None = None
    description: str | None = None
    demand: str | None = None
    similarity: float | None = None
    count: int = 0


class CustomerNotReached(DomainEvent):
    """A message to the customer failed for good on every address (notify's dead letter)."""

    notification_id: str | None = None
    template: str | None = None
    channel: str | None = None
    reason: str | None = None
    failed_at: datetime | None = None


class CustomerReached(DomainEvent):
    """The handler reached the customer another way and told them what our messages said."""

    staff_id: str | None = None
    how: str | None = None
    note: str | None = None
    messages: list[str] = []  # the templates of the messages they had not received


class BatchLinked(DomainEvent):
    batch_id: str | None = None
    cause: str | None = None
    customers: int | None = None


# ---------------------------------------------------------------- deadlines (§4, §7)


class SlaFacts(DomainEvent):
    """Which target, its deadline, and the moment this was due (a warning's, a breach's)."""

    target: str | None = None
    deadline: IsoTime | None = None
    due_at: IsoTime | None = None


class SlaWarning(SlaFacts):
    fraction: float | None = None


class ProgressReminder(SlaFacts):
    pass


class SlaBreached(SlaFacts):
    pass


class Escalated(SlaFacts):
    level: int = 0
    to: str | None = None
    groups: list[str] | None = None  # whose `to` it went to, when not the complaint's (a consultation's)


# ---------------------------------------------------------------- resolution and follow-up (§6, §8)


class Resolved(DomainEvent):
    staff_id: str | None = None
    note: str | None = None
    cause: str | None = None
    measures_taken: str | None = None
    improvement_plan: str | None = None
    compensation: str | None = None


class FeedbackSent(DomainEvent):
    channel: str | None = None


class SurveyRequested(DomainEvent):
    answer_by: IsoTime | None = None


class SurveyAnswered(DomainEvent):
    satisfaction_result: int | None = None
    satisfaction_speed: int | None = None
    suggestion: str | None = None


class SurveyExpired(DomainEvent):
    waited_hours: float | None = None


class FollowUpRequested(DomainEvent):
    deadlines: Deadlines | None = None


class FollowedUp(DomainEvent):
    staff_id: str | None = None
    outcome: str | None = None
    extra_compensation: str | None = None


class Reopened(DomainEvent):
    """A resolved complaint goes back to handling: its owner again, new deadlines."""

    staff_id: str | None = None  # None: the customer reopened it
    reason: str | None = None
    times: int | None = None
    assignee: str | None = None
    deadlines: Deadlines | None = None


class Closed(DomainEvent):
    survey_answered: bool | None = None
    breached: bool | None = None
    escalation_level: int | None = None


# ---------------------------------------------------------------- personal data (PIPL art. 47)


class CustomerDataErased(DomainEvent):
    """The customer's personal data was erased from this complaint's records on request
    (services/common/erasure.py): the events before this one no longer carry it."""

    erasure_id: str | None = None
    requested_by: str | None = None


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.type: cls
    for cls in (
        ComplaintReceived,
        Reopened,
        TierAssigned,
        Assigned,
        AutoReplySent,
        Acknowledged,
        AssignedToPerson,
        ProgressPosted,
        SolutionPlanGiven,
        TransferRequested,
        TransferAccepted,
        TransferDeclined,
        NoteAdded,
        ConsultationRequested,
        ConsultationAnswered,
        CompensationProposed,
        CompensationDecided,
        InfoRequested,
        ClockPaused,
        CustomerReplied,
        ClockResumed,
        Retiered,
        Reclassified,
        PolicyApplied,
        RepeatLinked,
        BatchLinked,
        CustomerNotReached,
        CustomerReached,
        SlaWarning,
        ProgressReminder,
        SlaBreached,
        Escalated,
        Resolved,
        FeedbackSent,
        SurveyRequested,
        SurveyAnswered,
        SurveyExpired,
        FollowUpRequested,
        FollowedUp,
        Closed,
        CustomerDataErased,
    )
}


def payload_of(event_type: str, data: dict[str, Any]) -> DomainEvent | None:
    """The typed payload of a stored event; None for a type this reader does not know, or for
    data it cannot read (logged): a reader leaves its columns as they were and goes on."""
    model = EVENT_TYPES.get(event_type)
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        log.warning("event data that does not fit its type", extra={"type": event_type, "error": str(exc)})
        return None
