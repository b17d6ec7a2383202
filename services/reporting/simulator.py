"""The policy simulator: a period's complaints replayed against a proposed SLA policy, beside
the policy they ran under, through the workflow's own deadline arithmetic
(services/common/deadlines: SlaState starts the same targets at receipt and computes the same
deadlines on the same business calendar).

What is replayed is what happened: when each complaint arrived, its tier, when it was first
answered, assigned, resolved and sent its written result. What the proposal changes is only
the deadlines, so the question it answers is "with these targets, which of last month's
complaints would have been late?". Progress cadences and clock pauses are not replayed (their
timing depends on what staff did in between, which a different policy would have changed).
"""

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from pydantic import BaseModel, Field

from services.common.deadlines.policy import Policy, PolicyError, load_policy, parse_policy
from services.common.deadlines.sla import SlaState
from services.common.web import ApiError
from services.reporting import reports

SIMULATED = ("first_response", "assignment", "solution_plan", "resolution", "feedback")
MAX_COMPLAINTS = 20_000


@dataclass(frozen=True)
class Happened:
    """One complaint as it went: the moments that meet its targets."""

    complaint_id: str
    tier: int
    policy: str | None
    received_at: datetime
    met: dict[str, datetime | None]  # target -> when it was met (None: not yet)

    @classmethod
    def from_row(cls, row: Any, targets: dict[str, dict[str, Any]]) -> "Happened":
        def moment(value: Any) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            return datetime.fromisoformat(value)

        recorded = {name: moment(t.get("met")) for name, t in targets.items()}
        met = {
            "first_response": moment(row["acknowledged_at"]),
            "assignment": recorded.get("assignment") or moment(row["acknowledged_at"]),
            "solution_plan": recorded.get("solution_plan") or moment(row["resolved_at"]),
            "resolution": moment(row["resolved_at"]),
            "feedback": moment(row["feedback_at"]),
        }
        return cls(row["complaint_id"], row["tier"], row["policy"], row["received_at"], met)


def late_targets(policy: Policy, complaint: Happened, now: datetime) -> dict[str, bool]:
    """Each simulated target the policy gives this complaint's tier: was it (or is it) late?"""
    sla = SlaState(policy=policy, tier=complaint.tier, remind_before_deadline=True)
    sla.start_at_receipt(complaint.received_at)
    resolved = complaint.met["resolution"]
    if resolved is not None:
        sla.start("feedback", resolved)
    late = {}
    for name, state in sla.targets.items():
        if name not in SIMULATED:
            continue
        deadline = sla.deadline(state, now)
        if deadline is None:
            continue
        met = complaint.met.get(name)
        late[name] = (met if met is not None else now) > deadline
    return late


class TargetRates(BaseModel):
    tier: int
    target: str
    complaints: int
    late_now: int  # under the policy in force
    late_proposed: int
    breach_rate_now: float
    breach_rate_proposed: float


class Change(BaseModel):
    complaint_id: str
    tier: int
    target: str
    late_now: bool
    late_proposed: bool


class Simulation(BaseModel):
    proposed: str  # name@vN
    in_force: list[str]
    complaints: int
    rates: list[TargetRates]
    changes: list[Change]  # complaints whose outcome would differ (the first 200)
    changed_complaints: int
    not_replayed: str = "progress cadences and clock pauses"


def simulate(proposed: Policy, complaints: list[Happened], now: datetime | None = None) -> Simulation:
    """Pure and CPU-bound: the API runs it in a thread."""
    now = now or datetime.now(UTC)
    in_force: dict[str, Policy] = {}
    counts: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    changes: list[Change] = []
    changed: set[str] = set()
    for complaint in complaints[:MAX_COMPLAINTS]:
        name = (complaint.policy or "default").split("@")[0]
        if name not in in_force:
            try:
                in_force[name] = load_policy(name)
            except PolicyError:
                in_force[name] = proposed  # its policy is gone: nothing to compare with
        before = late_targets(in_force[name], complaint, now)
        after = late_targets(proposed, complaint, now)
        for target in sorted(set(before) | set(after)):
            row = counts[(complaint.tier, target)]
            row[0] += 1
            row[1] += before.get(target, False)
            row[2] += after.get(target, False)
            was, would_be = before.get(target, False), after.get(target, False)
            if was != would_be:
                changed.add(complaint.complaint_id)
                if len(changes) < 200:
                    changes.append(Change(complaint_id=complaint.complaint_id, tier=complaint.tier, target=target,
                                          late_now=was, late_proposed=would_be))  # fmt: skip
    rates = [
        TargetRates(tier=tier, target=target, complaints=n, late_now=now_late, late_proposed=proposed_late,
                    breach_rate_now=round(now_late / n, 4), breach_rate_proposed=round(proposed_late / n, 4))
        for (tier, target), (n, now_late, proposed_late) in sorted(counts.items())
    ]  # fmt: skip
    return Simulation(
        proposed=proposed.ref,
        in_force=sorted(p.ref for p in in_force.values()),
        complaints=min(len(complaints), MAX_COMPLAINTS),
        rates=rates,
        changes=changes,
        changed_complaints=len(changed),
    )


class SimulationRequest(BaseModel):
    policy: str = Field(min_length=1, max_length=100_000, description="the proposed policy file (TOML)")
    start: date
    end: date
    tz: str | None = Field(default=None, max_length=64)
    tier: int | None = Field(default=None, ge=1, le=3)


async def run(pool: asyncpg.Pool, zone: ZoneInfo, request: SimulationRequest) -> Simulation:
    """The API's and the dashboard's one path: check the proposal, read the period, replay it."""
    try:
        proposed = parse_policy(request.policy, "policy")
    except PolicyError as exc:
        raise ApiError(422, "invalid_policy", str(exc), field="policy") from exc
    try:
        zone = ZoneInfo(request.tz) if request.tz else zone
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, "invalid_request", f"tz: unknown time zone '{request.tz}'", field="tz") from exc
    period = reports.Period.asked(request.start, request.end, zone, longest_days=92, tier=request.tier)
    async with pool.acquire() as conn:
        rows = await reports.happened(conn, period)
    complaints = [Happened.from_row(r, json.loads(r["targets"])) for r in rows]
    return await asyncio.to_thread(simulate, proposed, complaints)
