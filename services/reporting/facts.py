"""What the reports know of one complaint, folded from its events in order (domain §7): one
row per complaint, so a month's report reads that month's rows and nothing else.

`fold` is pure: the same events give the same facts, which is what lets the projection be
rebuilt from zero and come out the same.
"""

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from services.common import domain_events as ev
from services.common.deadlines.clock import BusinessCalendar
from services.common.deadlines.policy import BETWEEN_STAFF, PolicyError, load_policy
from services.common.deadlines.sla import MET_ON_RESOLUTION
from services.common.erasure import ERASED
from services.common.events import STAGE_AFTER, StoredEvent

# The event that meets each target (the workflow's SLA engine stops its clock there).
MEETS: dict[type[ev.DomainEvent], tuple[str, ...]] = {
    ev.Acknowledged: ("first_response",),
    ev.AssignedToPerson: ("assignment",),
    ev.ProgressPosted: ("progress",),
    ev.SolutionPlanGiven: ("solution_plan",),
    ev.TransferAccepted: ("transfer_acceptance",),
    ev.TransferDeclined: ("transfer_acceptance",),
    ev.CompensationDecided: ("compensation_approval",),
    ev.Resolved: MET_ON_RESOLUTION,
    ev.FeedbackSent: ("feedback",),
    ev.FollowedUp: ("second_follow_up",),
}


@dataclass
class ComplaintFacts:
    complaint_id: str
    last_position: int = 0
    channel: str | None = None
    tier: int | None = None
    complaint_type: str | None = None
    urgency: str | None = None
    responsibility: str | None = None
    scope: str | None = None
    cause: str | None = None  # the classification rule that decided the tier
    policy: str | None = None
    status: str = "received"
    group_name: str | None = None
    assignee: str | None = None
    owner: str | None = None
    received_at: str | None = None
    acknowledged_at: str | None = None
    resolved_at: str | None = None
    feedback_at: str | None = None
    closed_at: str | None = None
    first_response_seconds: float | None = None
    first_response_business_seconds: float | None = None
    resolution_seconds: float | None = None
    resolution_business_seconds: float | None = None
    paused_seconds: float = 0.0
    escalation_level: int = 0
    breached: bool = False
    satisfaction_result: int | None = None
    satisfaction_speed: int | None = None
    suggestion: str | None = None
    survey_expired: bool = False
    # The written result, or the survey, reached the customer on no address they gave (the
    # latest result's: a reopened complaint writes another).
    feedback_undelivered: bool = False
    survey_undelivered: bool = False
    follow_up_outcome: str | None = None
    reopened: int = 0
    batch_id: str | None = None
    # target -> {"due": iso, "met": iso | None, "breached": bool}: every target it ever ran
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalations: list[dict[str, Any]] = field(default_factory=list)  # {level, target, to, at}
    transfers: list[dict[str, Any]] = field(default_factory=list)  # {to_group, requested_at, waited, accepted}
    departments: list[dict[str, Any]] = field(default_factory=list)  # {group, from, to}: time in each
    # other departments asked for their view: {group, asked_at, answer_seconds (None: no answer yet),
    # late (its answer-by passed unanswered: its lead was told)}
    consultations: list[dict[str, Any]] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return asdict(self)

    def side_rows(self) -> dict[str, list[dict[str, Any]]]:
        """The rows of the narrow report tables (reporting.complaint_<name>) for this complaint."""
        common = {"complaint_id": self.complaint_id, "received_at": self.received_at}
        targets = []
        for name, t in self.targets.items():
            met, breached = t["met"] is not None, bool(t["breached"])
            targets.append({**common, "tier": self.tier, "target": name, "breached": breached,
                            "decided": breached or met, "within": met and not breached})  # fmt: skip
        escalations = [
            {**common, "seq": i, "tier": self.tier, "level": e["level"], "target": e["target"]}
            for i, e in enumerate(self.escalations)
        ]
        departments = [
            {
                **common,
                "seq": i,
                "tier": self.tier,
                "group_name": d["group"],
                "started_at": d["from"],
                "ended_at": d["to"],
            }
            for i, d in enumerate(self.departments)
        ]
        transfers = [
            {
                **common,
                "seq": i,
                "tier": self.tier,
                "to_group": t["to_group"],
                "waited_seconds": t["waited"],
                "accepted": t["accepted"],
            }
            for i, t in enumerate(self.transfers)
        ]
        consultations = [
            {
                **common,
                "seq": i,
                "tier": self.tier,
                "group_name": c["group"],
                "answer_seconds": c["answer_seconds"],
                "late": c.get("late", False),
            }
            for i, c in enumerate(self.consultations)
        ]
        return {
            "targets": targets,
            "escalations": escalations,
            "departments": departments,
            "transfers": transfers,
            "consultations": consultations,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ComplaintFacts":
        known = {k: v for k, v in row.items() if k in cls.__dataclass_fields__}
        for name in ("received_at", "acknowledged_at", "resolved_at", "feedback_at", "closed_at"):
            if isinstance(known.get(name), datetime):
                known[name] = _utc(known[name])
        return cls(**known)


@lru_cache(maxsize=32)
def _calendar(policy_ref: str | None) -> BusinessCalendar | None:
    """The business calendar of the policy a complaint ran under (`name@vN`; the current file)."""
    if not policy_ref:
        return None
    try:
        return BusinessCalendar(load_policy(policy_ref.split("@")[0]).calendar)
    except PolicyError:
        return None


def _utc(moment: datetime) -> str:
    """Every time kept in UTC: the same text whether it came from an event or back from a row."""
    return moment.astimezone(UTC).isoformat()


def _seconds(start: str | None, end: datetime) -> float | None:
    return (end - datetime.fromisoformat(start)).total_seconds() if start else None


def _business_seconds(facts: ComplaintFacts, start: str | None, end: datetime) -> float | None:
    calendar = _calendar(facts.policy)
    if calendar is None or start is None:
        return None
    return calendar.between(datetime.fromisoformat(start), end).total_seconds()


def _enter_department(facts: ComplaintFacts, group: str | None, at: str) -> None:
    if facts.departments and facts.departments[-1]["to"] is None:
        if facts.departments[-1]["group"] == group:
            return
        facts.departments[-1]["to"] = at
    if group:
        facts.departments.append({"group": group, "from": at, "to": None})


def _leave_departments(facts: ComplaintFacts, at: str) -> None:
    if facts.departments and facts.departments[-1]["to"] is None:
        facts.departments[-1]["to"] = at


def fold(facts: ComplaintFacts, event: StoredEvent) -> None:
    """One event into the complaint's facts."""
    payload = ev.payload_of(event.type, event.data)
    at = event.occurred_at
    iso = _utc(at)
    facts.last_position = max(facts.last_position, event.position)
    if event.type in STAGE_AFTER:
        facts.status = STAGE_AFTER[event.type]
    if payload is None:
        return
    for target in MEETS.get(type(payload), ()):
        if target in facts.targets and facts.targets[target]["met"] is None:
            facts.targets[target]["met"] = iso
    deadlines = getattr(payload, "deadlines", None)
    for target, due in (deadlines or {}).items():
        state = facts.targets.setdefault(target, {"due": None, "met": None, "breached": False})
        if state["met"] is not None and due > at:
            state["met"] = None  # started again: the next progress update, or reopened
        state["due"] = _utc(due)
    _fold_payload(facts, payload, at, iso)


def _latest_questions(facts: ComplaintFacts) -> dict[str, dict[str, Any]]:
    """Each asked group's latest question: the one its answer goes to, as in the workflow."""
    return {c["group"]: c for c in facts.consultations}


def _fold_payload(facts: ComplaintFacts, p: ev.DomainEvent, at: datetime, iso: str) -> None:  # noqa: C901 - one case per type
    if isinstance(p, ev.ComplaintReceived):
        facts.channel = p.channel
        facts.received_at = _utc(p.received_at or at)
    elif isinstance(p, ev.TierAssigned):
        facts.tier, facts.complaint_type, facts.urgency = p.tier, p.complaint_type, p.urgency
        facts.responsibility, facts.scope, facts.cause, facts.policy = p.responsibility, p.scope, p.rule, p.policy
    elif isinstance(p, ev.Assigned):
        facts.group_name, facts.assignee = p.group, p.assignee
        if p.assignee and "assignment" in facts.targets:
            facts.targets["assignment"]["met"] = facts.targets["assignment"]["met"] or iso
        _enter_department(facts, p.group, facts.received_at or iso)
    elif isinstance(p, ev.AssignedToPerson):
        facts.assignee = p.assignee
    elif isinstance(p, ev.Acknowledged):
        facts.owner = facts.owner or p.staff_id
        facts.assignee = facts.assignee or p.staff_id
        if facts.acknowledged_at is None:
            facts.acknowledged_at = iso
            facts.first_response_seconds = _seconds(facts.received_at, at)
            facts.first_response_business_seconds = _business_seconds(facts, facts.received_at, at)
    elif isinstance(p, ev.Retiered):
        facts.tier = p.to_tier
    elif isinstance(p, ev.Reclassified):
        facts.complaint_type = p.to_type or facts.complaint_type
        facts.responsibility = p.to_responsibility or facts.responsibility
    elif isinstance(p, ev.PolicyApplied):
        facts.policy = p.to_policy or facts.policy
    elif isinstance(p, ev.TransferRequested):
        facts.transfers.append({"to_group": p.to_group, "requested_at": iso, "waited": None, "accepted": None})
    elif isinstance(p, ev.TransferAccepted | ev.TransferDeclined):
        accepted = isinstance(p, ev.TransferAccepted)
        if facts.transfers and facts.transfers[-1]["accepted"] is None:
            facts.transfers[-1].update(waited=p.waited_seconds, accepted=accepted)
        if accepted:
            facts.group_name, facts.assignee = p.to_group, p.staff_id
            _enter_department(facts, p.to_group, iso)
    elif isinstance(p, ev.ConsultationRequested):
        facts.consultations.extend({"group": g, "asked_at": iso, "answer_seconds": None} for g in p.groups or ())
    elif isinstance(p, ev.ConsultationAnswered):
        waiting = [c for c in facts.consultations if c["group"] == p.group and c["answer_seconds"] is None]
        if waiting:  # the group's first answer to its latest question
            waiting[-1]["answer_seconds"] = _seconds(waiting[-1]["asked_at"], at)
        answer_by = facts.targets.get("consultation_answer")
        answered = all(c["answer_seconds"] is not None for c in _latest_questions(facts).values())
        if answer_by and answer_by["met"] is None and answered:
            answer_by["met"] = iso  # every department asked has answered: the workflow meets it so
    elif isinstance(p, ev.ClockResumed):
        facts.paused_seconds += p.paused_seconds or 0.0
    elif isinstance(p, ev.SlaBreached):
        # A complaint is breached by a target its customer is owed; a department late to another
        # counts in the departments' report (and in its target's row), a late approval in its
        # target's row, not here.
        facts.breached = facts.breached or p.target not in BETWEEN_STAFF
        if p.target:
            facts.targets.setdefault(p.target, {"due": None, "met": None, "breached": False})["breached"] = True
    elif isinstance(p, ev.Escalated):
        facts.escalation_level = max(facts.escalation_level, p.level)
        if p.target == "consultation_answer":  # the departments it went to had not answered in time
            latest = _latest_questions(facts)
            for group in p.groups or ():
                if group in latest:
                    latest[group]["late"] = True
        facts.escalations.append({"level": p.level, "target": p.target, "to": p.to, "at": iso})
    elif isinstance(p, ev.Resolved):
        facts.resolved_at = iso
        facts.resolution_seconds = _seconds(facts.received_at, at)
        facts.resolution_business_seconds = _business_seconds(facts, facts.received_at, at)
    elif isinstance(p, ev.FeedbackSent):
        facts.feedback_at = facts.feedback_at or iso
    elif isinstance(p, ev.CustomerNotReached):
        if p.template == "feedback":
            facts.feedback_undelivered = True
        elif p.template == "survey_request":
            facts.survey_undelivered = True
    elif isinstance(p, ev.CustomerReached):
        if "feedback" in p.messages:  # told the result another way, the phone among the channels (001)
            facts.feedback_undelivered = False
    elif isinstance(p, ev.SurveyAnswered):
        facts.satisfaction_result, facts.satisfaction_speed = p.satisfaction_result, p.satisfaction_speed
        facts.suggestion = p.suggestion
    elif isinstance(p, ev.SurveyExpired):
        facts.survey_expired = True
    elif isinstance(p, ev.FollowedUp):
        facts.follow_up_outcome = p.outcome
    elif isinstance(p, ev.Reopened):
        facts.reopened = p.times or facts.reopened + 1
        facts.resolved_at = None
        facts.feedback_undelivered = facts.survey_undelivered = False  # a new result is written
    elif isinstance(p, ev.BatchLinked):
        facts.batch_id = p.batch_id
    elif isinstance(p, ev.Closed):
        facts.closed_at = iso
        _leave_departments(facts, facts.resolved_at or iso)
    elif isinstance(p, ev.CustomerDataErased):  # counted as before; the customer's words go
        facts.suggestion = ERASED if facts.suggestion else None
        facts.follow_up_outcome = ERASED if facts.follow_up_outcome else None
