"""What people do to a complaint: staff actions and the customer's input, each the argument of
one of the workflow's Updates. A request body that the staff API completes with who acted is
named for what it carries (`AssignBody`); the Update's argument adds `Action` (`AssignAction`)."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from services.workflow.contract.record import Channel, ComplaintType, Responsibility, Text


class Resolution(Text):
    """The written result the customer receives (§6)."""

    cause: str = Field(min_length=1, max_length=4000)
    measures_taken: str = Field(min_length=1, max_length=4000)
    improvement_plan: str = Field(min_length=1, max_length=4000)
    compensation: str | None = Field(default=None, max_length=1000)


class SurveyAnswer(Text):
    satisfaction_result: int = Field(ge=1, le=5, description="satisfaction with the result, 1–5")
    satisfaction_speed: int = Field(ge=1, le=5, description="satisfaction with the speed, 1–5")
    suggestion: str | None = Field(default=None, max_length=2000)


class AcknowledgeBody(Text):
    note: str | None = Field(default=None, max_length=4000)


class StaffAction(AcknowledgeBody):
    staff_id: str


class ResolveAction(StaffAction):
    resolution: Resolution


# What staff send (the API's request bodies); the Update's argument adds who acted.


class AssignBody(Text):
    assignee: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=4000)


class ProgressBody(Text):
    message: str = Field(min_length=1, max_length=4000, description="what the customer is told")


class PlanBody(Text):
    plan: str = Field(
        min_length=1, max_length=4000, description="the solution plan the customer is told: what will be done, by when"
    )


class TransferBody(Text):
    """Hand the complaint to another department (domain §5): its liaison must accept it."""

    to_group: str = Field(min_length=1, max_length=100, description="the receiving group (routing.toml)")
    reason: str = Field(min_length=1, max_length=1000)


class DeclineTransferBody(Text):
    reason: str = Field(min_length=1, max_length=1000, description="why the receiving department does not take it")


CompensationKind = Literal["refund", "return", "compensation", "gift", "written_apology"]


class CompensationBody(Text):
    """A remedy offered to the customer (domain §5, source 002)."""

    kind: CompensationKind
    amount: float | None = Field(default=None, ge=0, le=10_000_000, description="yuan: refund, compensation, gift")
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _amount_where_it_has_one(self) -> "CompensationBody":
        if self.kind in ("refund", "compensation", "gift") and self.amount is None:
            raise ValueError(f"a {self.kind} needs an amount")
        if self.kind in ("return", "written_apology") and self.amount is not None:
            raise ValueError(f"a {self.kind.replace('_', ' ')} has no amount")
        return self


class DecisionBody(Text):
    approve: bool
    note: str | None = Field(default=None, max_length=1000)


class NoteBody(Text):
    text: str = Field(min_length=1, max_length=4000, description="for staff only; never sent to the customer")


class RequestInfoBody(Text):
    question: str = Field(min_length=1, max_length=4000, description="what we need from the customer")


class ConsultBody(Text):
    """Ask other departments for their view of a complaint whose cause is hard to find (source
    002: 联合会诊, a joint consultation across departments); the complaint stays with its handler."""

    groups: list[str] = Field(
        min_length=1, max_length=5, description="the groups asked (routing.toml), other than the complaint's own"
    )
    question: str = Field(min_length=1, max_length=4000, description="what the handler needs to know")

    @field_validator("groups")
    @classmethod
    def _each_group_once(cls, groups: list[str]) -> list[str]:
        if len(set(groups)) != len(groups):
            raise ValueError("name each group once")
        return groups


class ConsultationAnswerBody(Text):
    answer: str = Field(min_length=1, max_length=4000, description="the asked department's findings")
    group: str | None = Field(
        default=None,
        max_length=100,
        description="the asked group answered for; only needed by someone in several of the groups asked",
    )


class RetierBody(Text):
    tier: int = Field(ge=1, le=3)
    reason: str = Field(min_length=1, max_length=1000)


class ReclassifyBody(Text):
    """Staff correct what intake decided: the type, the responsibility, or both (domain §4)."""

    complaint_type: ComplaintType | None = None
    responsibility: Responsibility | None = None
    reason: str = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _something_to_change(self) -> "ReclassifyBody":
        if self.complaint_type is None and self.responsibility is None:
            raise ValueError("give complaint_type, responsibility or both")
        return self


class ApplyPolicyBody(BaseModel):
    policy: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="a policy name; its current version")


class FollowUpBody(Text):
    outcome: str = Field(min_length=1, max_length=4000, description="what was done for the dissatisfied customer")
    extra_compensation: str | None = Field(default=None, max_length=1000)


class ReopenBody(Text):
    reason: str = Field(min_length=1, max_length=2000, description="why the result does not settle it")


class ReopenAction(ReopenBody):
    staff_id: str | None = None  # None: the customer reopened it on their status page


class AssignAction(AssignBody):
    staff_id: str


class ProgressAction(ProgressBody):
    staff_id: str


class PlanAction(PlanBody):
    staff_id: str


class TransferAction(TransferBody):
    staff_id: str
    # The receiving group's member on duty who is asked to accept (picked by the group's
    # strategy when the transfer is made); None: the group's queue is asked.
    liaison: str | None = None


class ConsultAction(ConsultBody):
    staff_id: str
    # Each group's member on duty who is asked by name (picked by the group's strategy when the
    # question is asked); None: the group's queue is asked.
    liaisons: dict[str, str | None] = {}


class ConsultationAnswerAction(BaseModel):
    staff_id: str
    group: str  # which of the groups asked answers
    answer: str = Field(min_length=1, max_length=4000)


class DeclineTransferAction(DeclineTransferBody):
    staff_id: str


class CompensationAction(CompensationBody):
    staff_id: str
    # Who must approve it, decided from the proposer's authority (authority.toml); None: the
    # proposer may grant it, and it is granted at once.
    approver_role: str | None = None


class DecisionAction(DecisionBody):
    staff_id: str


class NoteAction(NoteBody):
    staff_id: str


class RequestInfoAction(RequestInfoBody):
    staff_id: str


class ReclassifyAction(ReclassifyBody):
    staff_id: str


class RetierAction(RetierBody):
    staff_id: str


class ApplyPolicyAction(ApplyPolicyBody):
    staff_id: str


class FollowUpAction(FollowUpBody):
    staff_id: str


class CustomerReply(Text):
    message: str = Field(min_length=1, max_length=10_000)


# What intake links to a running complaint.


class RepeatSubmission(Text):
    """The same customer wrote again about the same open matter: added to it, not started twice."""

    submission_id: str
    channel: Channel
    received_at: datetime
    description: str = Field(max_length=10_000)
    demand: str | None = Field(default=None, max_length=2000)
    similarity: float = Field(ge=0, le=1)


class BatchLink(BaseModel):
    """Many customers with the same cause within a window: one batch incident (domain §3)."""

    batch_id: str
    cause: str
    customers: int


class ReachedBody(Text):
    """The handler reached a customer our messages could not reach, another way, and told them
    what the messages said (source 001: feedback in the customer's channel, the phone among them)."""

    how: Literal["phone", "in_person", "their_channel"] = Field(
        default="phone", description="phone, in person, or on the channel they complained on"
    )
    note: str = Field(min_length=1, max_length=4000, description="what they were told, and what they said")


class ReachedAction(ReachedBody):
    staff_id: str
