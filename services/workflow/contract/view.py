"""What the workflow shows: the stage a complaint is in and the view its status query returns."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from services.notify.contract import Undelivered
from services.workflow.contract.actions import FollowUpAction, Resolution, SurveyAnswer
from services.workflow.contract.record import Channel, Classification


class Stage(StrEnum):
    received = "received"
    assigned = "assigned"
    acknowledged = "acknowledged"
    waiting_on_customer = "waiting_on_customer"  # the SLA clock is paused
    resolved = "resolved"
    awaiting_survey = "awaiting_survey"
    second_follow_up = "second_follow_up"  # the customer was dissatisfied
    closed = "closed"


# After the result, while the policy's reopen window lasts (the workflow checks the window).
REOPENABLE = frozenset({Stage.awaiting_survey, Stage.second_follow_up, Stage.resolved})


class PendingTransfer(BaseModel):
    """A transfer waiting for the receiving department to accept it."""

    from_group: str | None
    to_group: str
    reason: str
    requested_by: str
    requested_at: datetime
    liaison: str | None = None  # the receiving group's member asked to accept it


class CompensationView(BaseModel):
    kind: str
    amount: float | None
    reason: str
    proposed_by: str
    status: str  # granted (within the proposer's authority), pending, approved, rejected
    approver_role: str | None = None
    decided_by: str | None = None


class InternalNote(BaseModel):
    staff_id: str
    text: str
    at: datetime


class ConsultationAnswer(BaseModel):
    staff_id: str
    text: str
    at: datetime


class Consultation(BaseModel):
    """One group asked for its view (source 002's joint consultation); staff only."""

    group: str
    liaison: str | None = None  # the group's member asked by name
    question: str
    asked_by: str
    asked_at: datetime
    answers: list[ConsultationAnswer] = []


class HistoryEntry(BaseModel):
    type: str
    at: datetime


class ComplaintView(BaseModel):
    complaint_id: str
    stage: Stage
    channel: Channel
    received_at: datetime
    tier: int | None = None
    complaint_type: str | None = None
    classification: Classification | None = None  # every field with the rule that decided it
    group: str | None = None
    owner: str | None = None  # first responder: owns the complaint until it is closed
    assignee: str | None = None
    liaison: str | None = None  # the business liaison of a tier-2 complaint
    earlier_complaints: list[str] = []
    repeats: int = 0  # later submissions of the same matter linked to this complaint
    batch_id: str | None = None
    policy: str | None = None  # name@vN
    deadlines: dict[str, datetime] = {}  # running targets and when they are due
    next_deadline: datetime | None = None
    breached: bool = False  # a target the customer is owed was missed
    # Targets one department owed another that were missed (transfer_acceptance,
    # consultation_answer): escalated to that department's head, not a breach of the complaint.
    late_between_departments: list[str] = []
    # Every target staff owed each other that was missed: those above, and compensation_approval
    # (an approver late to the handler: escalated above the approver, not a breach either).
    late_between_staff: list[str] = []
    escalation_level: int = 0
    solution_plan: str | None = None  # what the customer was told will be done
    transfer: PendingTransfer | None = None  # waiting for the receiving department
    compensations: list[CompensationView] = []
    notes: list[InternalNote] = []  # staff only
    consultations: list[Consultation] = []  # other departments asked for their view; staff only
    # Messages the customer never received (every address failed): reach them another way.
    not_reached: list[Undelivered] = []

    def pending_compensation(self) -> CompensationView | None:
        """The compensation waiting for approval (one at a time)."""
        return next((c for c in self.compensations if c.status == "pending"), None)

    resolution: Resolution | None = None
    survey: SurveyAnswer | None = None
    survey_due_at: datetime | None = None
    follow_up: FollowUpAction | None = None
    reopen_until: datetime | None = None  # resolved: the customer or staff may reopen it until then
    reopened: int = 0  # how often it was reopened
    history: list[HistoryEntry] = []
    # False: the engine could not answer, so this is what the complaint's events recorded (stage,
    # group, people, steps), without running deadlines, and no action can be taken until it is back.
    live: bool = True


class ComplaintOutcome(BaseModel):
    complaint_id: str
    closed_at: datetime
    survey_answered: bool
    breached: bool = False
    escalation_level: int = 0
