"""The reports of domain §7, each a few SQL aggregates over the complaint facts of a period
(the projection, services/reporting/facts.py): the timeliness report of source 000 per tier,
the distributions, satisfaction, and the platform's figures against the domain's targets."""

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from pydantic import BaseModel

from services.common.privacy import scrub_text
from services.common.web import FIRST_DAY, LAST_DAY, ApiError

# Domain §2 and §7: what the figures are held against.
RESPONSE_TARGET = 0.95
COMPLETION_TARGET = 0.95
SATISFACTION_TARGET = 0.85
# Source 001: the written result reaches the customer (feedback completed) >= 95 %, the
# satisfaction follow-up >= 90 %.
FEEDBACK_REACHED_TARGET = 0.95
SURVEY_REACHED_TARGET = 0.90
SLOWNESS_ESCALATIONS_CHANGE_TARGET = -0.35  # period over period
SATISFIED_FROM = 4  # a 1-5 score of 4 or 5, for both the result and the speed

Dimension = Literal["type", "channel", "group", "person", "urgency", "responsibility", "scope"]
COLUMN_OF: dict[str, str] = {
    "type": "complaint_type",
    "channel": "channel",
    "group": "group_name",
    "person": "assignee",
    "urgency": "urgency",
    "responsibility": "responsibility",
    "scope": "scope",
}


@dataclass(frozen=True)
class Period:
    """Complaints received from `start` (a local date) up to and including `end`, in `zone`."""

    start: date
    end: date
    zone: ZoneInfo
    tier: int | None = None
    complaint_type: str | None = None
    channel: str | None = None
    group: str | None = None
    person: str | None = None

    @classmethod
    def asked(
        cls, start: date | None, end: date | None, zone: ZoneInfo, longest_days: int = 3 * 366, **filters: Any
    ) -> "Period":
        """The period a reader asked for (by default the 30 days up to today in `zone`); 422
        naming the field for a date outside the reports' range, a start after the end, or a
        period longer than `longest_days`."""
        for name, day in (("start", start), ("end", end)):
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ApiError(422, "invalid_request", f"{name}: a date from 2000 to 2099", field=name)
        last = end or datetime.now(zone).date()
        first = start or last - timedelta(days=29)
        if first > last:
            raise ApiError(422, "invalid_request", "start: after end", field="start")
        if last - first > timedelta(days=longest_days):
            raise ApiError(422, "invalid_request", f"start: a period of at most {longest_days} days", field="start")
        return cls(first, last, zone, **filters)

    def bounds(self) -> tuple[datetime, datetime]:
        return (
            datetime.combine(self.start, time(0), tzinfo=self.zone),
            datetime.combine(self.end + timedelta(days=1), time(0), tzinfo=self.zone),
        )

    def previous(self) -> "Period":
        length = self.end - self.start + timedelta(days=1)
        return replace(self, start=self.start - length, end=self.start - timedelta(days=1))

    def narrow_where(self, alias: str = "n") -> tuple[str, list[Any]]:
        """The same selection on one of the narrow tables (received_at and tier beside each row);
        the other filters through the complaints they belong to."""
        low, high = self.bounds()
        clauses = [f"{alias}.received_at >= $1", f"{alias}.received_at < $2"]
        args: list[Any] = [low, high]
        if self.tier is not None:
            args.append(self.tier)
            clauses.append(f"{alias}.tier = ${len(args)}")
        if any(v is not None for v in (self.complaint_type, self.channel, self.group, self.person)):
            where, full_args = self.where("c")
            args = full_args
            clauses.append(f"{alias}.complaint_id IN (SELECT c.complaint_id FROM reporting.complaints c WHERE {where})")
        return " AND ".join(clauses), args

    def where(self, alias: str = "c") -> tuple[str, list[Any]]:
        """The WHERE clause for this period and its filters, and its arguments ($1…)."""
        low, high = self.bounds()
        clauses = [f"{alias}.received_at >= $1", f"{alias}.received_at < $2"]
        args: list[Any] = [low, high]
        for column, value in (
            ("tier", self.tier),
            ("complaint_type", self.complaint_type),
            ("channel", self.channel),
            ("group_name", self.group),
            ("assignee", self.person),
        ):
            if value is not None:
                args.append(value)
                clauses.append(f"{alias}.{column} = ${len(args)}")
        return " AND ".join(clauses), args


class Durations(BaseModel):
    """Seconds, over the complaints that reached the step."""

    count: int
    average: float | None
    median: float | None
    p90: float | None


class TargetCompliance(BaseModel):
    target: str
    decided: int  # met or breached (a target still running counts later)
    within: int
    breached: int
    within_share: float | None
    breach_rate: float | None


class TierTimeliness(BaseModel):
    tier: int | None
    complaints: int
    first_response: Durations
    first_response_business: Durations
    resolution: Durations
    resolution_business: Durations
    targets: list[TargetCompliance]
    escalations_by_level: dict[int, int]


class DepartmentTime(BaseModel):
    group: str
    transfers_received: int
    transfers_accepted: int
    average_seconds_to_accept: float | None
    hours_handled: float  # time complaints spent with this department
    # asked for its view of another department's complaint (source 002's joint consultation)
    consultations_asked: int = 0
    consultations_answered: int = 0
    average_seconds_to_answer: float | None = None
    consultations_late: int = 0  # its answer-by passed unanswered, and its lead was told


class DrillDown(BaseModel):
    tier: int | None
    value: str | None
    complaints: int
    breached: int
    breach_rate: float


class TimelinessReport(BaseModel):
    start: date
    end: date
    time_zone: str
    tiers: list[TierTimeliness]
    departments: list[DepartmentTime]
    drilldown: list[DrillDown]
    drilldown_by: str | None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _durations(row: asyncpg.Record, prefix: str) -> Durations:
    return Durations(
        count=row[f"{prefix}_n"],
        average=row[f"{prefix}_avg"],
        median=row[f"{prefix}_p50"],
        p90=row[f"{prefix}_p90"],
    )


def _duration_columns(column: str, prefix: str) -> str:
    return (
        f"count({column}) AS {prefix}_n, avg({column}) AS {prefix}_avg, "
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {column}) AS {prefix}_p50, "
        f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {column}) AS {prefix}_p90"
    )


async def timeliness(conn: asyncpg.Connection, period: Period, by: Dimension | None = None) -> TimelinessReport:
    """Source 000's complaint response timeliness report."""
    where, args = period.where()
    per_tier = await conn.fetch(
        f"""SELECT tier, count(*) AS complaints,
                   {_duration_columns("first_response_seconds", "fr")},
                   {_duration_columns("first_response_business_seconds", "frb")},
                   {_duration_columns("resolution_seconds", "rs")},
                   {_duration_columns("resolution_business_seconds", "rsb")}
            FROM reporting.complaints c WHERE {where} GROUP BY tier ORDER BY tier NULLS LAST""",
        *args,
    )
    narrow, narrow_args = period.narrow_where()
    targets = await conn.fetch(
        f"""SELECT tier, target, count(*) FILTER (WHERE decided) AS decided,
                   count(*) FILTER (WHERE breached) AS breached, count(*) FILTER (WHERE within) AS within
            FROM reporting.complaint_targets n WHERE {narrow} GROUP BY 1, 2 ORDER BY 1, 2""",
        *narrow_args,
    )
    escalations = await conn.fetch(
        f"""SELECT tier, level, count(*) AS n FROM reporting.complaint_escalations n WHERE {narrow}
            GROUP BY 1, 2 ORDER BY 1, 2""",
        *narrow_args,
    )
    tiers = []
    for row in per_tier:
        tier = row["tier"]
        tiers.append(
            TierTimeliness(
                tier=tier,
                complaints=row["complaints"],
                first_response=_durations(row, "fr"),
                first_response_business=_durations(row, "frb"),
                resolution=_durations(row, "rs"),
                resolution_business=_durations(row, "rsb"),
                targets=[
                    TargetCompliance(
                        target=t["target"],
                        decided=t["decided"],
                        within=t["within"],
                        breached=t["breached"],
                        within_share=_share(t["within"], t["decided"]),
                        breach_rate=_share(t["breached"], t["decided"]),
                    )
                    for t in targets
                    if t["tier"] == tier
                ],
                escalations_by_level={e["level"]: e["n"] for e in escalations if e["tier"] == tier},
            )
        )
    return TimelinessReport(
        start=period.start,
        end=period.end,
        time_zone=period.zone.key,
        tiers=tiers,
        departments=await _departments(conn, narrow, narrow_args),
        drilldown=await _drilldown(conn, where, args, by) if by else [],
        drilldown_by=by,
    )


async def _departments(conn: asyncpg.Connection, where: str, args: list[Any]) -> list[DepartmentTime]:
    """Collaboration between departments, from the transfer and consultation events: how long
    the receiving one took to accept, how long complaints stayed with each department, and how
    long a department asked for its view took to answer."""
    transfers = await conn.fetch(
        f"""SELECT to_group AS grp, count(*) AS received, count(*) FILTER (WHERE accepted) AS accepted,
                   avg(waited_seconds) FILTER (WHERE accepted) AS to_accept
            FROM reporting.complaint_transfers n WHERE {where} GROUP BY 1""",
        *args,
    )
    spans = await conn.fetch(
        f"""SELECT group_name AS grp, sum(extract(epoch FROM coalesce(ended_at, now()) - started_at)) AS seconds
            FROM reporting.complaint_departments n WHERE {where} GROUP BY 1""",
        *args,
    )
    asked = await conn.fetch(
        f"""SELECT group_name AS grp, count(*) AS asked, count(answer_seconds) AS answered,
                   avg(answer_seconds) AS to_answer, count(*) FILTER (WHERE late) AS late
            FROM reporting.complaint_consultations n WHERE {where} GROUP BY 1""",
        *args,
    )
    by_group = {t["grp"]: t for t in transfers}
    seconds = {s["grp"]: float(s["seconds"] or 0) for s in spans}
    consulted = {a["grp"]: a for a in asked}
    return [
        DepartmentTime(
            group=group,
            transfers_received=by_group[group]["received"] if group in by_group else 0,
            transfers_accepted=by_group[group]["accepted"] if group in by_group else 0,
            average_seconds_to_accept=by_group[group]["to_accept"] if group in by_group else None,
            hours_handled=round(seconds.get(group, 0.0) / 3600, 2),
            consultations_asked=consulted[group]["asked"] if group in consulted else 0,
            consultations_answered=consulted[group]["answered"] if group in consulted else 0,
            average_seconds_to_answer=consulted[group]["to_answer"] if group in consulted else None,
            consultations_late=consulted[group]["late"] if group in consulted else 0,
        )
        for group in sorted(set(by_group) | set(seconds) | set(consulted), key=str)
        if group
    ]


async def _drilldown(conn: asyncpg.Connection, where: str, args: list[Any], by: Dimension) -> list[DrillDown]:
    column = COLUMN_OF[by]
    rows = await conn.fetch(
        f"""SELECT tier, {column} AS value, count(*) AS n, count(*) FILTER (WHERE breached) AS breached
            FROM reporting.complaints c WHERE {where} GROUP BY 1, 2 ORDER BY 1 NULLS LAST, 3 DESC""",
        *args,
    )
    return [
        DrillDown(
            tier=r["tier"],
            value=r["value"],
            complaints=r["n"],
            breached=r["breached"],
            breach_rate=r["breached"] / r["n"],
        )
        for r in rows
    ]


# ---------------------------------------------------------------- distributions


class Count(BaseModel):
    value: str | None
    complaints: int


class TrendPoint(BaseModel):
    starts: date
    received: int
    breached: int
    escalated: int


class Distributions(BaseModel):
    start: date
    end: date
    time_zone: str
    by: dict[str, list[Count]]  # type, urgency, responsibility, channel, scope
    causes: list[Count]  # the most frequent, by the classification rule that decided the tier
    daily: list[TrendPoint]
    weekly: list[TrendPoint]


async def distributions(conn: asyncpg.Connection, period: Period) -> Distributions:
    where, args = period.where()
    by = {}
    for name in ("type", "urgency", "responsibility", "channel", "scope"):
        rows = await conn.fetch(
            f"SELECT {COLUMN_OF[name]} AS value, count(*) AS n FROM reporting.complaints c WHERE {where} "
            "GROUP BY 1 ORDER BY 2 DESC, 1",
            *args,
        )
        by[name] = [Count(value=r["value"], complaints=r["n"]) for r in rows]
    causes = await conn.fetch(
        f"""SELECT cause AS value, count(*) AS n FROM reporting.complaints c WHERE {where} AND cause IS NOT NULL
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
        *args,
    )
    return Distributions(
        start=period.start,
        end=period.end,
        time_zone=period.zone.key,
        by=by,
        causes=[Count(value=r["value"], complaints=r["n"]) for r in causes],
        daily=await _trend(conn, where, args, "day", period.zone),
        weekly=await _trend(conn, where, args, "week", period.zone),
    )


async def _trend(conn: asyncpg.Connection, where: str, args: list[Any], unit: str, zone: ZoneInfo) -> list[TrendPoint]:
    zone_arg = len(args) + 1
    rows = await conn.fetch(
        f"""SELECT date_trunc('{unit}', c.received_at AT TIME ZONE ${zone_arg})::date AS starts, count(*) AS n,
                   count(*) FILTER (WHERE breached) AS breached, count(*) FILTER (WHERE escalation_level > 0) AS esc
            FROM reporting.complaints c WHERE {where} GROUP BY 1 ORDER BY 1""",
        *args,
        zone.key,
    )
    return [TrendPoint(starts=r["starts"], received=r["n"], breached=r["breached"], escalated=r["esc"]) for r in rows]


# ---------------------------------------------------------------- satisfaction


class DissatisfiedCustomer(BaseModel):
    """One dissatisfied answer beside what the second follow-up did (contacts masked)."""

    complaint_id: str
    received_at: datetime
    complaint_type: str | None
    result: int
    speed: int
    said: str | None  # their suggestion
    followed_up: str | None  # the second follow-up's outcome, once recorded


class Satisfaction(BaseModel):
    start: date
    end: date
    surveys_answered: int
    surveys_expired: int
    average_result: float | None
    average_speed: float | None
    satisfied: int
    satisfied_share: float | None
    target: float = SATISFACTION_TARGET
    dissatisfied_reasons: list[str]  # what dissatisfied customers wrote (contacts masked)
    second_follow_ups: list[str]  # what was done for them
    dissatisfied: list[DissatisfiedCustomer] = []  # each answer beside its follow-up, the latest first


async def satisfaction(conn: asyncpg.Connection, period: Period) -> Satisfaction:
    where, args = period.where()
    row = await conn.fetchrow(
        f"""SELECT count(satisfaction_result) AS answered, count(*) FILTER (WHERE survey_expired) AS expired,
                   avg(satisfaction_result)::float AS result, avg(satisfaction_speed)::float AS speed,
                   count(*) FILTER (WHERE satisfaction_result >= {SATISFIED_FROM}
                                      AND satisfaction_speed >= {SATISFIED_FROM}) AS satisfied
            FROM reporting.complaints c WHERE {where}""",
        *args,
    )
    unhappy = await conn.fetch(
        f"""SELECT complaint_id, received_at, complaint_type, satisfaction_result, satisfaction_speed,
                   suggestion, follow_up_outcome FROM reporting.complaints c
            WHERE {where} AND least(satisfaction_result, satisfaction_speed) < {SATISFIED_FROM}
            ORDER BY received_at DESC LIMIT 200""",
        *args,
    )  # the latest 200
    dissatisfied = [
        DissatisfiedCustomer(
            complaint_id=r["complaint_id"],
            received_at=r["received_at"],
            complaint_type=r["complaint_type"],
            result=r["satisfaction_result"],
            speed=r["satisfaction_speed"],
            said=scrub_text(r["suggestion"]) if r["suggestion"] else None,
            followed_up=scrub_text(r["follow_up_outcome"]) if r["follow_up_outcome"] else None,
        )
        for r in unhappy  # the latest first
    ]
    return Satisfaction(
        start=period.start,
        end=period.end,
        surveys_answered=row["answered"],
        surveys_expired=row["expired"],
        average_result=row["result"],
        average_speed=row["speed"],
        satisfied=row["satisfied"],
        satisfied_share=_share(row["satisfied"], row["answered"]),
        # the older lists, the oldest first, as they have always been
        dissatisfied_reasons=[u.said for u in reversed(dissatisfied) if u.said],
        second_follow_ups=[u.followed_up for u in reversed(dissatisfied) if u.followed_up],
        dissatisfied=dissatisfied,
    )


# ---------------------------------------------------------------- against the domain's targets


class Figure(BaseModel):
    name: str
    value: float | None
    target: float
    met: bool | None


class Targets(BaseModel):
    start: date
    end: date
    figures: list[Figure]


async def _target_share(conn: asyncpg.Connection, period: Period, target: str) -> float | None:
    where, args = period.narrow_where()
    row = await conn.fetchrow(
        f"""SELECT count(*) FILTER (WHERE decided) AS decided, count(*) FILTER (WHERE within) AS within
            FROM reporting.complaint_targets n WHERE {where} AND n.target = ${len(args) + 1}""",
        *args,
        target,
    )
    return _share(row["within"], row["decided"])


async def _reached_share(conn: asyncpg.Connection, period: Period, undelivered: str) -> float | None:
    """Of the complaints whose written result went out (the survey follows it at once), the share
    whose message (`undelivered`: its column) reached the customer."""
    where, args = period.where()
    row = await conn.fetchrow(
        f"""SELECT count(*) AS sent, count(*) FILTER (WHERE NOT c.{undelivered}) AS reached
            FROM reporting.complaints c WHERE {where} AND c.feedback_at IS NOT NULL""",
        *args,
    )
    return _share(row["reached"], row["sent"])


async def _escalations(conn: asyncpg.Connection, period: Period) -> int:
    where, args = period.narrow_where()
    return await conn.fetchval(f"SELECT count(*) FROM reporting.complaint_escalations n WHERE {where}", *args)


async def against_targets(conn: asyncpg.Connection, period: Period) -> Targets:
    response = await _target_share(conn, period, "first_response")
    completion = await _target_share(conn, period, "resolution")
    happy = (await satisfaction(conn, period)).satisfied_share
    feedback = await _reached_share(conn, period, "feedback_undelivered")
    survey = await _reached_share(conn, period, "survey_undelivered")
    now, before = await _escalations(conn, period), await _escalations(conn, period.previous())
    change = (now - before) / before if before else None
    figures = [
        Figure(name="responses within target", value=response, target=RESPONSE_TARGET,
               met=None if response is None else response >= RESPONSE_TARGET),
        Figure(name="completed within target", value=completion, target=COMPLETION_TARGET,
               met=None if completion is None else completion >= COMPLETION_TARGET),
        Figure(name="written results that reached the customer", value=feedback, target=FEEDBACK_REACHED_TARGET,
               met=None if feedback is None else feedback >= FEEDBACK_REACHED_TARGET),
        Figure(name="surveys that reached the customer", value=survey, target=SURVEY_REACHED_TARGET,
               met=None if survey is None else survey >= SURVEY_REACHED_TARGET),
        Figure(name="customers satisfied", value=happy, target=SATISFACTION_TARGET,
               met=None if happy is None else happy >= SATISFACTION_TARGET),
        Figure(name="escalations for slowness, change on the previous period", value=change,
               target=SLOWNESS_ESCALATIONS_CHANGE_TARGET,
               met=None if change is None else change <= SLOWNESS_ESCALATIONS_CHANGE_TARGET),
    ]  # fmt: skip
    return Targets(start=period.start, end=period.end, figures=figures)


# ---------------------------------------------------------------- the dashboard's other figures


class HeatCell(BaseModel):
    tier: int | None
    complaint_type: str | None
    complaints: int
    breached: int


async def heat_map(conn: asyncpg.Connection, period: Period) -> list[HeatCell]:
    """Tier × type: how many complaints, how many breached."""
    where, args = period.where()
    rows = await conn.fetch(
        f"""SELECT tier, complaint_type, count(*) AS n, count(*) FILTER (WHERE breached) AS breached
            FROM reporting.complaints c WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2""",
        *args,
    )
    return [HeatCell(tier=r["tier"], complaint_type=r["complaint_type"], complaints=r["n"], breached=r["breached"])
            for r in rows]  # fmt: skip


async def open_by_stage(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM reporting.complaints WHERE status <> 'closed' GROUP BY 1 ORDER BY 2 DESC"
    )
    return {r["status"]: r["n"] for r in rows}


async def happened(conn: asyncpg.Connection, period: Period) -> list[dict[str, Any]]:
    """What the simulator replays: each tiered complaint's moments (services/reporting/simulator.py)."""
    where, args = period.where()
    rows = await conn.fetch(
        f"""SELECT complaint_id, tier, policy, received_at, acknowledged_at, resolved_at, feedback_at, targets
            FROM reporting.complaints c WHERE {where} AND tier IS NOT NULL ORDER BY received_at LIMIT 20000""",
        *args,
    )
    return [dict(r) for r in rows]
