"""SLA policies: versioned configuration, one TOML file per policy in `policies/`.

A file is validated completely when it is loaded (by the activity that hands it to a
workflow, or by `python -m services.common.deadlines.policy check FILE`); a bad file never reaches
a running workflow. Running complaints keep the policy they started under: its validated
content is part of the workflow's state until an operator moves the complaint.
"""

import re
import sys
import tomllib
from collections.abc import Iterable
from datetime import date, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator, model_validator

from services.common.deadlines.statutory import statutory_days

POLICY_DIR = Path(__file__).resolve().parents[2] / "workflow" / "policies"
TierKey = Literal["1", "2", "3"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value):
    """'15m', '2h', '1h30m', '2d' (also a timedelta or ISO 8601, as pydantic reads them)."""
    if isinstance(value, str) and value and (m := _DURATION.match(value.strip())):
        d, h, mi, s = (int(x or 0) for x in m.groups())
        return timedelta(days=d, hours=h, minutes=mi, seconds=s)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Clock = Literal["business", "24x7"]


def _hours(spec: str) -> tuple[time, time]:
    start, _, end = spec.partition("-")
    try:
        span = time.fromisoformat(start.strip()), time.fromisoformat(end.strip())
    except ValueError as exc:
        raise ValueError(f"'{spec}' is not a span like '09:00-18:00'") from exc
    if span[0] >= span[1]:
        raise ValueError(f"'{spec}' ends before it starts")
    return span


class CalendarSpec(BaseModel):
    """Working hours per weekday in the policy's time zone, holidays, and make-up working days
    (a weekend day worked in place of a holiday, with Monday's hours)."""

    timezone: str
    working_hours: dict[Weekday, list[str]]
    # A country's statutory holidays and make-up working days, added at load for the years a
    # complaint received now can run in (services/common/deadlines/statutory.py); the lists below are
    # the organisation's own additions (a company day off, a year's make-up days not yet known).
    statutory: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="ISO country code, e.g. CN")
    holidays: list[date] = []
    make_up_days: list[date] = []

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone '{zone}'") from exc
        return zone

    @field_validator("working_hours")
    @classmethod
    def _valid_spans(cls, hours: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, spans in hours.items():
            parsed = sorted(_hours(s) for s in spans)
            for (_, end), (start, _) in pairwise(parsed):
                if start < end:
                    raise ValueError(f"{day}: working spans overlap")
        if not any(hours.values()):
            raise ValueError("a calendar needs some working hours")
        return hours

    def spans_on(self, weekday: int) -> list[tuple[time, time]]:
        return sorted(_hours(s) for s in self.working_hours.get(WEEKDAYS[weekday], []))


class Target(BaseModel):
    """A time limit and the clock it runs on."""

    within: Duration
    clock: Clock | None = None  # None: the tier's clock

    @field_validator("within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than zero")
        return value


def _target(value):
    return {"within": value} if isinstance(value, str | timedelta) else value


TargetField = Annotated[Target, BeforeValidator(_target)]


class ProgressCadence(BaseModel):
    """How often the customer hears about progress: every N, daily by a local time, or once
    before resolution (source 003, low urgency: "one update before completion")."""

    every: Duration | None = None
    daily_by: time | None = None
    # With daily_by: the first update after acknowledgement is due the same working day when
    # the complaint was acknowledged before this local time, else the next one (source 003:
    # "each day's progress by 17:00"). None: always the next working day.
    same_day_until: time | None = None
    once_before_resolution: bool = False
    # With once_before_resolution: the one update is due this long after acknowledgement,
    # around the clock (halfway through the resolution window, so the customer hears before
    # the end); reminded, breached and escalated like any update. None: no timer of its own.
    once_within: Duration | None = None
    # A missed update first reminds the owner; this long after the reminder it escalates.
    escalate_after_reminder: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _one_kind(self) -> "ProgressCadence":
        kinds = [self.every is not None, self.daily_by is not None, self.once_before_resolution]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of every, daily_by, once_before_resolution")
        if self.same_day_until is not None and (self.daily_by is None or self.same_day_until > self.daily_by):
            raise ValueError("same_day_until goes with daily_by, and not after it")
        if self.once_within is not None and not self.once_before_resolution:
            raise ValueError("once_within goes with once_before_resolution")
        return self


class TierPolicy(BaseModel):
    clock: Clock
    first_response: TargetField
    assignment: TargetField
    resolution: TargetField
    # A solution plan given to the customer (source 000, tier 1: "a solution within 2 h"), a
    # target of its own beside full resolution; None where a policy does not ask for one.
    solution_plan: TargetField | None = None
    # A compensation above the proposer's authority waits this long for its approver (002),
    # then escalates above them; None: no deadline of its own.
    compensation_approval: TargetField | None = None
    progress: ProgressCadence
    transfer_acceptance: TargetField
    # A department asked for its view (002's joint consultation) answers within this, or its
    # lead hears of it; None: no deadline of its own (the complaint's own still run).
    consultation_answer: TargetField | None = None
    feedback: TargetField
    survey_follow_up: TargetField
    second_follow_up: TargetField
    warn_at: list[float] = Field(default=[0.5, 0.8], description="fractions of each window")
    escalation_chain: list[str] = Field(min_length=2, description="owner first, then who is alerted next")
    climb_after: Duration = Field(description="how long a still-overdue complaint waits before the next level")
    # A business-clock tier's around-the-clock targets (resolution) for a complaint received
    # outside working time: counted from receipt, or from when handling starts, the next
    # working moment (source 000: "recorded, handled first thing by 09:00 the next day").
    after_hours_start: Literal["at_receipt", "when_handling_starts"] = Field(
        default="at_receipt", description="when the around-the-clock targets of an after-hours complaint start"
    )

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values) or values != sorted(set(values)):
            raise ValueError("fractions between 0 and 1, ascending, each once")
        return values

    def clock_of(self, target: Target) -> Clock:
        return target.clock or self.clock


TARGETS = (
    "first_response",
    "assignment",
    "resolution",
    "solution_plan",
    "compensation_approval",
    "transfer_acceptance",
    "consultation_answer",
    "feedback",
    "survey_follow_up",
    "second_follow_up",
)
# The targets one department owes another (source 000's "department collaboration time", in
# service-desk words an OLA): late, they escalate to the late department's head and count in the
# departments' report, but the complaint's own targets, which the customer is owed, decide whether
# the complaint itself was breached.
BETWEEN_DEPARTMENTS = frozenset({"transfer_acceptance", "consultation_answer"})
# Every target staff owe each other rather than the customer: the departments' above, and the
# approver's answer to a compensation beyond the proposer's authority (source 002 sets no time for
# it; the policy's figure is ours). Late, an approval escalates above the approver like any target;
# the customer, waiting on the resolution, is owed that target, which the approval holds up.
BETWEEN_STAFF = BETWEEN_DEPARTMENTS | {"compensation_approval"}
# Every deadline a complaint can run: the targets above, and its next progress update (whose
# cadence is `TierPolicy.progress`).
DEADLINES = (*TARGETS, "progress")


class Policy(BaseModel):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    version: int = Field(ge=1)
    source: str = ""
    description: str = ""
    calendar: CalendarSpec
    tiers: dict[TierKey, TierPolicy]
    dissatisfied_below: int = Field(
        default=3, ge=1, le=5, description="a survey score under this asks for a second follow-up"
    )
    reopen_within_days: int = Field(
        default=7, ge=0, le=90, description="the customer or staff may reopen a resolved complaint for this long"
    )

    @model_validator(mode="after")
    def _complete(self) -> "Policy":
        missing = {"1", "2", "3"} - set(self.tiers)
        if missing:
            raise ValueError(f"tiers {sorted(missing)} are missing")
        tier1 = self.tiers["1"]
        on_calendar = [
            t for t in TARGETS if getattr(tier1, t) is not None and tier1.clock_of(getattr(tier1, t)) != "24x7"
        ]
        if on_calendar:
            raise ValueError(f"tier 1 runs around the clock, but {', '.join(on_calendar)} use the calendar")
        return self

    def tier(self, tier: int) -> TierPolicy:
        return self.tiers[cast(TierKey, str(tier))]

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


class PolicyError(Exception):
    """A policy file that cannot be used; the message says where and why."""


def load_policy_file(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(f"{path.name}: no such policy file") from exc
    policy = parse_policy(text, path.name)
    if policy.name != path.stem:
        raise PolicyError(f"{path.name}: name is '{policy.name}' but the file is named '{path.stem}.toml'")
    return policy


def parse_policy(text: str, source: str = "policy") -> Policy:
    """A policy from its TOML text (a file, or a proposal sent to the simulator)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from exc
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise PolicyError(f"{source}: {problems}") from exc
    return with_statutory_days(policy, years=range(date.today().year - 1, date.today().year + 2))


def with_statutory_days(policy: Policy, years: Iterable[int]) -> Policy:
    """The policy with its country's statutory days of `years` in its calendar. Loaded by an
    activity, so a complaint keeps the calendar it started with in its history."""
    spec = policy.calendar
    if spec.statutory is None:
        return policy
    try:
        off, worked = statutory_days(spec.statutory, years)
    except NotImplementedError as exc:  # a country neither library knows
        raise PolicyError(f"calendar.statutory: no statutory calendar for '{spec.statutory}'") from exc
    calendar = spec.model_copy(
        update={
            "holidays": sorted(set(spec.holidays) | off),
            "make_up_days": sorted(set(spec.make_up_days) | worked),
        }
    )
    return policy.model_copy(update={"calendar": calendar})


def load_policy(name: str, directory: Path = POLICY_DIR) -> Policy:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        raise PolicyError(f"'{name}' is not a policy name")
    return load_policy_file(directory / f"{name}.toml")


def available_policies(directory: Path = POLICY_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


if __name__ == "__main__":  # python -m services.common.deadlines.policy check FILE...
    if len(sys.argv) < 3 or sys.argv[1] != "check":
        sys.exit("usage: python -m services.common.deadlines.policy check FILE [FILE...]")
    failed = False
    for arg in sys.argv[2:]:
        try:
            checked = load_policy_file(Path(arg))
            print(f"ok: {checked.ref} ({arg})")
        except PolicyError as error:
            failed = True
            print(f"error: {error}", file=sys.stderr)
    sys.exit(1 if failed else 0)
