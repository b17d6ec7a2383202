"""The SLA state of one complaint, as pure code the workflow drives.

Each running target (first response, assignment, resolution, progress, second follow-up …)
is a budget of clock time that started at some moment, minus the time the clock was paused.
`due(now)` says what must happen now (pre-breach warnings, reminders, breaches, climbing the
escalation chain); `next_wakeup(now)` says when the workflow's durable timer must fire next.
Everything that has fired is remembered, so nothing fires twice, on replay either.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, PrivateAttr

from services.common.deadlines.clock import ZERO, BusinessCalendar, Clock, clock_for
from services.common.deadlines.policy import BETWEEN_DEPARTMENTS, BETWEEN_STAFF, Policy, TierPolicy

Kind = Literal["warn", "remind", "breach", "climb"]


RECEIPT_TARGETS = ("first_response", "assignment", "resolution", "solution_plan")
# What a complaint's result ends: every target of its handling (the feedback's starts then).
MET_ON_RESOLUTION = (
    "resolution",
    "solution_plan",
    "transfer_acceptance",
    "compensation_approval",
    "consultation_answer",
    "progress",
    "assignment",
    "first_response",
)
# Owed by another department, not waiting on what the customer sends: their clocks run on while
# the complaint waits on the customer.
RUN_WHILE_WAITING = ("consultation_answer",)


class Pause(BaseModel):
    start: datetime
    end: datetime | None = None


class TargetState(BaseModel):
    name: str
    started_at: datetime
    budget: timedelta | None = None  # None: a fixed deadline (daily progress by 17:00)
    fixed_deadline: datetime | None = None
    clock: Literal["business", "24x7"]
    pauses: list[Pause] = []
    met_at: datetime | None = None
    warn_at: list[float] = []
    warned: list[float] = []
    # A missed progress update first reminds the owner; the breach comes this long after.
    reminder_grace: timedelta | None = None
    reminded_at: datetime | None = None
    breached_at: datetime | None = None
    level: int = 0  # how far up the escalation chain this target has gone
    next_climb_at: datetime | None = None
    escalate_above: str | None = None  # an approval: late, it goes to the roles above the approver

    @property
    def active(self) -> bool:
        return self.met_at is None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None


@dataclass(frozen=True, slots=True)
class Due:
    """Something a target's clock has made due: built several times per deadline step, so a
    plain dataclass, not a validated model (every field comes from the SLA state itself)."""

    kind: Kind
    target: str
    at: datetime  # when it became due (deadline, warning moment, climb moment)
    deadline: datetime | None = None
    fraction: float | None = None
    level: int = 0
    to: str = "owner"  # the escalation-chain role to alert


class SlaState(BaseModel):
    policy: Policy
    tier: int
    targets: dict[str, TargetState] = {}
    paused_since: datetime | None = None
    progress_updates: int = 0  # sent to the customer so far
    # timeliness-v1: a missed progress update is breached at its deadline, the owner reminded
    # `escalate_after_reminder` before it. Older complaints were reminded at the deadline and
    # breached that long after it, and keep that.
    remind_before_deadline: bool = False
    _calendar_cache: BusinessCalendar | None = PrivateAttr(default=None)

    # ------------------------------------------------------------ clock arithmetic

    def calendar(self) -> BusinessCalendar:
        # Derived from the policy, kept out of the serialised state; rebuilt after a policy move.
        # Read once: a private attribute's every read goes through pydantic's __getattr__.
        cached = self._calendar_cache
        if cached is None or cached.spec is not self.policy.calendar:
            cached = self._calendar_cache = BusinessCalendar(self.policy.calendar)
        return cached

    def _clock(self, target: TargetState) -> Clock:
        return clock_for(target.clock, self.calendar)

    def _tier(self) -> TierPolicy:
        return self.policy.tier(self.tier)

    def _running_spans(self, target: TargetState) -> list[tuple[datetime, datetime | None]]:
        """The stretches during which the target's clock ran; the last may be open."""
        spans: list[tuple[datetime, datetime | None]] = []
        start = target.started_at
        for pause in target.pauses:
            spans.append((start, pause.start))
            if pause.end is None:
                return spans
            start = pause.end
        return [*spans, (start, None)]

    def consumed(self, target: TargetState, now: datetime) -> timedelta:
        clock = self._clock(target)
        return sum((clock.between(a, min(b or now, now)) for a, b in self._running_spans(target)), ZERO)

    def _reaches(self, target: TargetState, amount: timedelta) -> datetime | None:
        """The moment the target's running time reaches `amount`: past or future, exact;
        None while the clock is paused short of it."""
        clock, remaining = self._clock(target), amount
        for start, end in self._running_spans(target):
            if end is None:
                return clock.add(start, remaining)
            ran = clock.between(start, end)
            if remaining <= ran:
                return clock.add(start, remaining)
            remaining -= ran
        return None

    def deadline(self, target: TargetState, now: datetime) -> datetime | None:
        if target.fixed_deadline is not None:
            return target.fixed_deadline
        assert target.budget is not None  # a target has a fixed deadline or a budget
        return self._reaches(target, target.budget)

    # ------------------------------------------------------------ starting and stopping

    def start_at_receipt(self, received_at: datetime) -> None:
        """The targets that run from receipt: first response, assignment, resolution (and the
        solution plan where the policy asks for one). A business tier whose policy says so starts
        the around-the-clock ones when handling starts."""
        tier = self._tier()
        for name in RECEIPT_TARGETS:
            at = received_at
            if getattr(tier, name) is None:
                continue
            if (
                tier.after_hours_start == "when_handling_starts"
                and tier.clock == "business"
                and tier.clock_of(getattr(tier, name)) == "24x7"
            ):
                at = self.calendar().next_working_moment(received_at)
            self.start(name, at)

    def start(self, name: str, at: datetime) -> TargetState | None:
        tier = self._tier()
        if name == "progress":
            return self._start_progress(at)
        target_policy = getattr(tier, name)
        if target_policy is None:
            return None  # a target this tier's policy does not ask for (a solution plan)
        state = TargetState(
            name=name,
            started_at=at,
            budget=target_policy.within,
            clock=tier.clock_of(target_policy),
            warn_at=tier.warn_at,
        )
        if self.paused_since is not None and name not in RUN_WHILE_WAITING:
            state.pauses.append(Pause(start=at))
        self.targets[name] = state
        return state

    def _start_progress(self, at: datetime) -> TargetState | None:
        cadence = self._tier().progress
        common = {"name": "progress", "started_at": at, "reminder_grace": cadence.escalate_after_reminder}
        if cadence.once_before_resolution:
            if cadence.once_within is None or self.progress_updates > 0:
                self.targets.pop("progress", None)  # no timer of its own, or the one update was sent
                return None
            state = TargetState(budget=cadence.once_within, clock="24x7", **common)
        elif cadence.every is not None:
            state = TargetState(budget=cadence.every, clock=self._tier().clock, **common)
        else:
            assert cadence.daily_by is not None  # the policy gives `every` or `daily_by`
            same_day_until = cadence.same_day_until if self.progress_updates == 0 else None
            deadline = self._next_daily(at, cadence.daily_by, same_day_until)
            state = TargetState(fixed_deadline=deadline, clock="24x7", **common)
        self.targets["progress"] = state
        return state

    def _next_daily(self, after: datetime, by: time, same_day_until: time | None = None) -> datetime:
        """`by` (local) on the next working day after the day of `after`; or on that day itself
        when it is a working day and `after` is before `same_day_until`."""
        calendar = self.calendar()
        local = calendar.local(after)
        day = local.date()
        if same_day_until is not None and calendar.spans_on(day) and local.time() < same_day_until:
            return datetime.combine(day, by, tzinfo=calendar.zone)
        for _ in range(3 * 366):
            day += timedelta(days=1)
            if calendar.spans_on(day):
                return datetime.combine(day, by, tzinfo=calendar.zone)
        raise ValueError("the calendar has no working day")

    def meet(self, name: str, at: datetime) -> TargetState | None:
        target = self.targets.get(name)
        if target is not None and target.active:
            if name == "progress":
                self.progress_updates += 1
            if target.paused:
                target.pauses[-1].end = at
            target.met_at = at
        return target

    def pause(self, at: datetime) -> None:
        if self.paused_since is not None:
            return
        self.paused_since = at
        for target in self.targets.values():
            if target.active and target.name != "progress" and target.name not in RUN_WHILE_WAITING:
                target.pauses.append(Pause(start=at))
        # No progress is owed to a customer we are waiting on; the cadence restarts on resume.
        self.targets.pop("progress", None)

    def resume(self, at: datetime, progress_running: bool) -> timedelta:
        """Resume every paused clock; returns the wall time the complaint was paused."""
        if self.paused_since is None:
            return ZERO
        for target in self.targets.values():
            if target.paused:
                target.pauses[-1].end = at
        paused_for, self.paused_since = at - self.paused_since, None
        if progress_running:
            self._start_progress(at)
        return paused_for

    def move_to(self, policy: Policy, tier: int, at: datetime) -> None:
        """Re-tier or apply another policy version: running targets keep their start and
        pauses, and take the new budgets; what has fired stays fired."""
        self.policy, self.tier = policy, tier
        tier_policy = self._tier()
        self._plan_as(tier_policy)
        for name, target in list(self.targets.items()):
            if not target.active:
                continue
            if name == "progress":
                self._start_progress(at)
                continue
            target_policy = getattr(tier_policy, name)
            target.budget = target_policy.within
            target.clock = tier_policy.clock_of(target_policy)
            target.warn_at = tier_policy.warn_at

    def _plan_as(self, tier_policy: TierPolicy) -> None:
        """A solution plan is owed where the new tier asks for one, counted like resolution from
        receipt (with its pauses); a tier that asks for none drops a plan target still running."""
        plan = self.targets.get("solution_plan")
        if tier_policy.solution_plan is None:
            if plan is not None and plan.active:
                del self.targets["solution_plan"]
            return
        resolution = self.targets.get("resolution")
        if plan is None and resolution is not None and resolution.active:
            state = self.start("solution_plan", resolution.started_at)
            assert state is not None  # the tier asks for a plan
            state.pauses = [p.model_copy() for p in resolution.pauses]

    # ------------------------------------------------------------ what is due

    def _chain(self, target: TargetState) -> list[str]:
        """Who a late target escalates to, level by level. A transfer nobody accepts goes
        straight to the receiving department's head (003), then on up the tier's chain."""
        chain = self._tier().escalation_chain
        if target.name == "transfer_acceptance" and "department_head" in chain:
            return [chain[0], *chain[chain.index("department_head") :]]
        if target.escalate_above in chain:
            above = chain[chain.index(target.escalate_above) + 1 :]
            return [chain[0], *(above or chain[-1:])]
        return chain

    def _next_event(self, target: TargetState, now: datetime) -> Due | None:
        """The earliest thing this target has not fired yet, and when it falls due: the one
        place that knows the order warn → remind → breach → climb."""
        if not target.active:
            return None
        deadline = self.deadline(target, now)
        candidates = []
        if target.budget is not None:
            for fraction in target.warn_at:
                moment = None if fraction in target.warned else self._reaches(target, target.budget * fraction)
                if moment is not None:
                    candidates.append(
                        Due(kind="warn", target=target.name, at=moment, deadline=deadline, fraction=fraction)
                    )
        if deadline is not None:
            grace = target.reminder_grace or ZERO
            remind_at, breach_at = (
                (deadline - grace, deadline) if self.remind_before_deadline else (deadline, deadline + grace)
            )
            if target.reminder_grace is not None and target.reminded_at is None:
                candidates.append(Due(kind="remind", target=target.name, at=remind_at, deadline=deadline))
            if target.breached_at is None:
                candidates.append(
                    Due(
                        kind="breach",
                        target=target.name,
                        at=breach_at,
                        deadline=deadline,
                        level=1,
                        to=self._chain(target)[1],
                    )
                )
        if target.next_climb_at is not None and target.level + 1 < len(self._chain(target)):
            candidates.append(
                Due(
                    kind="climb",
                    target=target.name,
                    at=target.next_climb_at,
                    deadline=deadline,
                    level=target.level + 1,
                    to=self._chain(target)[target.level + 1],
                )
            )
        return min(candidates, key=lambda d: d.at) if candidates else None

    def _mark_fired(self, target: TargetState, due: Due, now: datetime) -> None:
        if due.kind == "warn":
            assert due.fraction is not None  # a warning is a fraction of the budget
            target.warned.append(due.fraction)
        elif due.kind == "remind":
            target.reminded_at = now
        elif due.kind == "breach":
            target.breached_at, target.level = now, 1
            target.next_climb_at = due.at + self._tier().climb_after
        else:
            target.level = due.level
            target.next_climb_at = due.at + self._tier().climb_after

    def due(self, now: datetime) -> list[Due]:
        """Everything due at `now`, in time order; each is marked fired as it is returned."""
        fired: list[Due] = []
        for target in self.targets.values():
            while (event := self._next_event(target, now)) is not None and event.at <= now:
                self._mark_fired(target, event, now)
                stale_warning = event.kind == "warn" and event.deadline is not None and now >= event.deadline
                if not stale_warning:  # a warning after the breach is only noise
                    fired.append(event)
        return sorted(fired, key=lambda d: d.at)

    def next_wakeup(self, now: datetime) -> datetime | None:
        upcoming = [e.at for t in self.targets.values() if (e := self._next_event(t, now)) is not None]
        return min(upcoming) if upcoming else None

    def next_deadline(self, now: datetime) -> datetime | None:
        """The nearest deadline not yet passed (for the Temporal UI and the staff inbox)."""
        deadlines = [self.deadline(t, now) for t in self.targets.values() if t.active and t.breached_at is None]
        upcoming = [d for d in deadlines if d is not None]
        return min(upcoming) if upcoming else None

    @property
    def escalation_level(self) -> int:
        return max((t.level for t in self.targets.values()), default=0)

    @property
    def breached(self) -> bool:
        """Any target missed (older generations' sense of a breached complaint)."""
        return any(t.breached_at is not None for t in self.targets.values())

    @property
    def breached_for_customer(self) -> bool:
        """A target the customer is owed was missed (not one department's lateness to another, nor
        an approver's to the handler)."""
        return self.breached_apart_from(BETWEEN_STAFF)

    @property
    def missed(self) -> list[str]:
        """The targets whose deadline passed unmet, by name."""
        return sorted(n for n, t in self.targets.items() if t.breached_at is not None)

    def breached_apart_from(self, between_staff: frozenset[str]) -> bool:
        """A target missed other than those in `between_staff` (complaints of customer-breaches-v1
        leave out the departments' targets only)."""
        return any(n not in between_staff for n in self.missed)

    @property
    def late_between_staff(self) -> list[str]:
        """The targets staff owe each other that were missed."""
        return [n for n in self.missed if n in BETWEEN_STAFF]

    @property
    def late_between_departments(self) -> list[str]:
        """The targets between departments that were missed."""
        return [n for n in self.missed if n in BETWEEN_DEPARTMENTS]
