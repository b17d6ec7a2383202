"""The complaint's domain, as pure code: the record, the tier rules table and the stage machine.

Nothing here does I/O or reads the clock, so the workflow can use it deterministically and
the unit tests can check it on its own. Rules follow ../shared/domain.md.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, EmailStr, Field, field_validator, model_validator


class Channel(StrEnum):
    hotline = "hotline"
    email = "email"
    web_form = "web_form"
    app = "app"
    chat_group = "chat_group"
    social_media = "social_media"
    store = "store"


class Stage(StrEnum):
    received = "received"
    assigned = "assigned"
    acknowledged = "acknowledged"
    waiting_on_customer = "waiting_on_customer"  # the SLA clock is paused
    resolved = "resolved"
    awaiting_survey = "awaiting_survey"
    second_follow_up = "second_follow_up"  # the customer was dissatisfied
    closed = "closed"


class Action(StrEnum):
    acknowledge = "acknowledge"
    assign = "assign"
    post_progress = "post_progress"
    request_info = "request_info"
    customer_reply = "customer_reply"
    resolve = "resolve"
    retier = "retier"
    apply_policy = "apply_policy"
    link_repeat = "link_repeat"
    link_batch = "link_batch"
    answer_survey = "answer_survey"
    record_follow_up = "record_follow_up"


_HANDLING = {Stage.assigned, Stage.acknowledged, Stage.waiting_on_customer}

# In which stages each action is allowed; anything else is rejected before it touches history.
ALLOWED_IN: dict[Action, set[Stage]] = {
    Action.acknowledge: {Stage.assigned},
    Action.assign: _HANDLING,
    Action.post_progress: {Stage.acknowledged},
    Action.request_info: {Stage.acknowledged},
    Action.customer_reply: {Stage.waiting_on_customer},
    Action.resolve: {Stage.acknowledged, Stage.waiting_on_customer},
    Action.retier: _HANDLING,
    Action.apply_policy: set(Stage) - {Stage.closed},
    Action.link_repeat: set(Stage) - {Stage.closed},
    Action.link_batch: set(Stage) - {Stage.closed},
    Action.answer_survey: {Stage.awaiting_survey},
    Action.record_follow_up: {Stage.second_follow_up},
}


class ActionNotAllowed(Exception):
    pass


def _words(value: str) -> str:
    return value.replace("_", " ")


def ensure_allowed(stage: Stage, action: Action) -> None:
    allowed = ALLOWED_IN[action]
    if stage not in allowed:
        options = " or ".join(sorted(_words(s.value) for s in allowed))
        raise ActionNotAllowed(
            f"cannot {_words(action.value)} a complaint that is {_words(stage.value)}; only when it is {options}"
        )


# ---------------------------------------------------------------- the record


class Text(BaseModel):
    """Base of every model that carries people's text: refuses what PostgreSQL and UTF-8 cannot
    store (NUL, lone surrogates), so bad input is a 422 naming the field, never a stuck append."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value):
        _check_storable(value)
        return value


def _check_storable(value) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)


Segment = Literal["vip", "standard"]


class Customer(Text):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{5,19}[0-9]$")
    email: EmailStr | None = None
    preferred_channel: Literal["email", "sms"] | None = None
    company: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=100, description="the customer's account with us")
    segment: Segment | None = Field(default=None, description="customer value segment; vip takes the green channel")

    @model_validator(mode="after")
    def _reachable(self) -> "Customer":
        if not self.phone and not self.email:
            raise ValueError("give a phone or an email so that we can answer the customer")
        if self.preferred_channel == "email" and not self.email:
            raise ValueError("preferred_channel is email but no email is given")
        if self.preferred_channel == "sms" and not self.phone:
            raise ValueError("preferred_channel is sms but no phone is given")
        return self

    def reply_channel(self) -> tuple[str, str]:
        """(channel, address) to answer on: the preferred one, else e-mail, else SMS."""
        if self.preferred_channel == "sms" or not self.email:
            return "sms", self.phone or ""
        return "email", str(self.email)


class Attachment(Text):
    """An attachment as the channel delivered it: listed in the record, never dropped silently."""

    filename: str = Field(max_length=500)
    content_type: str = Field(max_length=200)
    size_bytes: int = Field(ge=0)


# ---------------------------------------------------------------- classification (domain §2, §4)

ComplaintType = Literal["product_fault", "service_attitude", "process_problem", "other"]
Urgency = Literal["high", "medium", "low"]
Responsibility = Literal["tech_support", "product", "rnd", "third_party", "customer_error", "undetermined"]
Scope = Literal["single_customer", "group"]
Difficulty = Literal["front_line", "cross_department"]
CLASSIFIED_FIELDS = ("tier", "complaint_type", "urgency", "responsibility", "scope", "difficulty")


class FieldDecision(BaseModel):
    """Which rule decided one classification field, and why (shown to staff, kept in the events)."""

    field: str
    value: str | int
    rule: str
    reason: str


class Classification(BaseModel):
    tier: int = Field(ge=1, le=3)
    complaint_type: ComplaintType
    urgency: Urgency
    responsibility: Responsibility
    scope: Scope
    difficulty: Difficulty
    decided_by: list[FieldDecision] = []
    rules_version: str = ""
    cause: str | None = None  # the most specific rule that matched: complaints sharing it may be one batch

    def decision(self, field: str) -> FieldDecision | None:
        return next((d for d in self.decided_by if d.field == field), None)


class ComplaintInput(BaseModel):
    """What the workflow starts with: the accepted submission, as intake stored it."""

    complaint_id: str
    channel: Channel
    received_at: AwareDatetime
    customer: Customer
    description: str
    occurred_at: AwareDatetime | None = None
    scenario: str | None = None
    symptom: str | None = None
    impact: str | None = None
    demand: str | None = None
    urgency_hint: Literal["high", "medium", "low"] | None = None
    external_ref: str | None = None
    subject: str | None = None
    attachments: list[Attachment] = []
    recorded_by: str | None = None
    channel_tags: list[str] = []
    status_url: str | None = None
    policy: str = "default"  # the SLA policy it starts under (services/workflow/policies/)
    # Decided by intake (absent in complaints accepted before intake classified them):
    classification: Classification | None = None
    earlier_complaints: list[str] = []  # the same customer's earlier complaint ids, newest first
    overflow: bool = False  # accepted during an intake surge: routed to the standby group


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


class StaffNote(Text):
    note: str | None = Field(default=None, max_length=4000)


class StaffAction(StaffNote):
    staff_id: str


class ResolveAction(StaffAction):
    resolution: Resolution


# What staff send (the API's request bodies); the Update's argument adds who acted.


class Assignment(Text):
    assignee: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=4000)


class ProgressNote(Text):
    message: str = Field(min_length=1, max_length=4000, description="what the customer is told")


class InfoQuestion(Text):
    question: str = Field(min_length=1, max_length=4000, description="what we need from the customer")


class Retiering(Text):
    tier: int = Field(ge=1, le=3)
    reason: str = Field(min_length=1, max_length=1000)


class PolicyChoice(BaseModel):
    policy: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="a policy name; its current version")


class FollowUp(Text):
    outcome: str = Field(min_length=1, max_length=4000, description="what was done for the dissatisfied customer")
    extra_compensation: str | None = Field(default=None, max_length=1000)


class AssignAction(Assignment):
    staff_id: str


class ProgressAction(ProgressNote):
    staff_id: str


class InfoRequest(InfoQuestion):
    staff_id: str


class RetierAction(Retiering):
    staff_id: str


class PolicyMove(PolicyChoice):
    staff_id: str


class FollowUpAction(FollowUp):
    staff_id: str


class CustomerReply(Text):
    message: str = Field(min_length=1, max_length=10_000)


# ---------------------------------------------------------------- tiering


@dataclass(frozen=True)
class TierRule:
    name: str
    tier: int
    complaint_type: str
    keywords: tuple[str, ...]


# A small first rules table (domain §2): the first rule whose keyword appears decides.
TIER_RULES: tuple[TierRule, ...] = (
    TierRule(
        "safety-or-injury",
        1,
        "safety",
        ("injur", "hurt", "fire", "smoke", "electric shock", "safety", "受伤", "安全", "起火", "冒烟", "触电"),
    ),
    TierRule(
        "payment-system-down",
        1,
        "product_fault",
        ("payment system down", "cannot pay at all", "支付系统", "无法支付"),
    ),
    TierRule(
        "money-lost",
        2,
        "process_problem",
        ("charged twice", "double charge", "refund", "money", "overcharg", "退款", "扣款", "多扣", "扣费"),
    ),
    TierRule(
        "order-anomaly",
        2,
        "process_problem",
        ("order", "delivery", "shipment", "订单", "发货", "物流"),
    ),
)
ROUTINE = TierRule("routine-default", 3, "other", ())


@dataclass(frozen=True)
class TierDecision:
    tier: int
    complaint_type: str
    rule: str
    reason: str


def assign_tier(description: str, urgency_hint: str | None = None) -> TierDecision:
    """Tier from the rules table; a channel's 'urgent' hint (IVR key, form box) means tier 1."""
    if urgency_hint == "high":
        return TierDecision(1, "other", "urgency-hint", "the channel marked the complaint urgent")
    text = description.lower()
    for rule in TIER_RULES:
        for keyword in rule.keywords:
            if keyword in text:
                return TierDecision(rule.tier, rule.complaint_type, rule.name, f"mentions '{keyword}'")
    return TierDecision(ROUTINE.tier, ROUTINE.complaint_type, ROUTINE.name, "no rule matched")


def legacy_classification(complaint: "ComplaintInput") -> Classification:
    """For complaints accepted before intake classified them (their histories still replay):
    the first small rules table, with the other fields at their defaults."""
    found = assign_tier(complaint.description, complaint.urgency_hint)
    urgency = {1: "high", 2: "medium", 3: "low"}[found.tier]
    return Classification(
        tier=found.tier,
        complaint_type=found.complaint_type if found.complaint_type != "safety" else "other",
        urgency=urgency,
        responsibility="undetermined",
        scope="single_customer",
        difficulty="front_line",
        decided_by=[FieldDecision(field="tier", value=found.tier, rule=found.rule, reason=found.reason)],
        rules_version="built-in@v0",
    )


# Tier 1 skips the queue to the special team; tier 2 to senior agents; tier 3 to the front line (§3).
# Complaints started before routing.toml existed keep these groups (see the "routing-v1" patch).
DEFAULT_GROUP_BY_TIER = {1: "special-team", 2: "senior-agents", 3: "front-line"}


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


# ---------------------------------------------------------------- what the workflow shows


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
    breached: bool = False
    escalation_level: int = 0
    resolution: Resolution | None = None
    survey: SurveyAnswer | None = None
    survey_due_at: datetime | None = None
    follow_up: FollowUpAction | None = None
    history: list[HistoryEntry] = []


class ComplaintOutcome(BaseModel):
    complaint_id: str
    closed_at: datetime
    survey_answered: bool
    breached: bool = False
    escalation_level: int = 0
