"""The reports against hand-computed values on a fixture period, and the projection rebuilt
from zero (or fed in other page sizes) giving the same reports."""

import csv
import io
import json
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common.events import EventPage, StoredEvent
from services.common.web import ApiError
from services.reporting import exports, reports
from services.reporting.dashboard import _span, _trend_points
from services.reporting.directory import Directory
from services.reporting.projector import JSON_COLUMNS, SIDE_TABLES, Projector, apply_page
from services.run import free_port
from services.workflow.contract import title_in
from tests.conftest import migrated_pool

SHANGHAI = ZoneInfo("Asia/Shanghai")
POLICY = "default@v3"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """`day` of November 2026 (31: 1 December), local time."""
    return datetime(2026, 11, 1, hour, minute, tzinfo=SHANGHAI) + timedelta(days=day - 1)


def fixture_events() -> list[StoredEvent]:
    """Four complaints, Friday 27 and Monday 30 November 2026 (Shanghai; 09:00-18:00 working)."""

    def received(cid, when, channel, tier, kind, deadlines, group, assignee):
        return [
            (cid, when, "ComplaintReceived", {"channel": channel, "received_at": when.isoformat()}),
            (
                cid,
                when,
                "TierAssigned",
                {
                    "tier": tier,
                    "complaint_type": kind,
                    "urgency": "medium",
                    "responsibility": "billing",
                    "scope": "single_customer",
                    "rule": f"rule-{kind}",
                    "policy": POLICY,
                    "deadlines": {k: v.isoformat() for k, v in deadlines.items()},
                },
            ),
            (cid, when, "Assigned", {"group": group, "assignee": assignee}),
        ]

    c1, c2, c3, c4 = "C-1", "C-2", "C-3", "C-4"
    steps = [
        # C-1 tier 2: answered in 10 min, resolved in 4 h, satisfied.
        *received(c1, at(30, 10), "hotline", 2, "process_problem",
                  {"first_response": at(30, 10, 30), "resolution": at(31, 10)}, "front-line-general", "a1"),
        (c1, at(30, 10, 10), "Acknowledged", {"staff_id": "a1", "deadlines": {"progress": at(30, 17).isoformat(),
                                                                             "resolution": at(30, 23).isoformat()}}),
        (c1, at(30, 14), "Resolved", {"staff_id": "a1", "cause": "x"}),
        (c1, at(30, 14), "FeedbackSent", {}),
        (c1, at(30, 14, 5), "SurveyAnswered", {"satisfaction_result": 5, "satisfaction_speed": 5}),
        (c1, at(30, 14, 5), "Closed", {}),
        # C-2 tier 2: first response breached and escalated, answered at 40 min; dissatisfied.
        *received(c2, at(30, 11), "email", 2, "product_fault",
                  {"first_response": at(30, 11, 30), "resolution": at(30, 23)}, "front-line-product", "a2"),
        (c2, at(30, 11, 30), "SlaBreached", {"target": "first_response"}),
        (c2, at(30, 11, 30), "Escalated", {"target": "first_response", "level": 1, "to": "group_lead"}),
        (c2, at(30, 11, 40), "Acknowledged", {"staff_id": "a2", "deadlines": {"resolution": at(30, 23).isoformat()}}),
        (c2, at(30, 15, 0), "Resolved", {"staff_id": "a2"}),
        (c2, at(30, 15, 0), "FeedbackSent", {}),
        (c2, at(30, 15, 0), "CustomerNotReached", {"template": "feedback", "channel": "email"}),  # all bounced
        (c2, at(30, 15, 1), "SurveyAnswered", {"satisfaction_result": 2, "satisfaction_speed": 3,
                                               "suggestion": "call me on 13812345678 next time"}),
        (c2, at(30, 15, 2), "FollowUpRequested", {}),
        (c2, at(30, 16), "FollowedUp", {"outcome": "refunded the fee"}),
        # C-3 tier 1: transferred, accepted after 20 min; 1 h to resolve.
        *received(c3, at(30, 12), "app", 1, "product_fault",
                  {"first_response": at(30, 12, 15), "resolution": at(31, 12)}, "special-team", "s1"),
        (c3, at(30, 12, 5), "Acknowledged", {"staff_id": "s1", "deadlines": {"resolution": at(31, 12).isoformat()}}),
        (c3, at(30, 12, 10), "TransferRequested", {"to_group": "liaison-product", "from_group": "special-team",
                                                    "deadlines": {"transfer_acceptance": at(30, 14, 10).isoformat(),
                                                                  "resolution": at(31, 12).isoformat()}}),
        (c3, at(30, 12, 6), "ConsultationRequested", {"staff_id": "s1", "question": "a defect?",
                                                      "groups": ["liaison-product", "liaison-operations"]}),
        (c3, at(30, 12, 21), "ConsultationAnswered", {"staff_id": "l1", "group": "liaison-product", "answer": "yes"}),
        (c3, at(30, 12, 26), "ConsultationAnswered", {"staff_id": "l1", "group": "liaison-product", "answer": "+"}),
        (c3, at(30, 12, 50), "Escalated", {"target": "consultation_answer", "level": 1, "to": "group_lead",
                                           "groups": ["liaison-operations"]}),
        (c3, at(30, 12, 30), "TransferAccepted", {"staff_id": "l1", "to_group": "liaison-product",
                                                   "from_group": "special-team", "waited_seconds": 1200.0}),
        (c3, at(30, 13), "Resolved", {"staff_id": "l1"}),
        (c3, at(30, 13), "Closed", {}),
        # C-4 tier 3: Friday 17:30, answered Monday 09:30: 64 h of wall time, 1 h of business time.
        *received(c4, at(27, 17, 30), "hotline", 3, "service_attitude",
                  {"first_response": at(30, 9, 30), "resolution": at(29, 17, 30)}, "front-line-service", "a3"),
        (c4, at(30, 9, 30), "Acknowledged",
         {"staff_id": "a3", "deadlines": {"resolution": at(29, 17, 30).isoformat()}}),
    ]  # fmt: skip
    versions: dict[str, int] = {}
    events = []
    for position, (cid, when, kind, data) in enumerate(steps, start=1):
        versions[cid] = versions.get(cid, 0) + 1
        events.append(
            StoredEvent(
                event_id=uuid.uuid4(),
                stream_id=cid,
                version=versions[cid],
                type=kind,
                occurred_at=when,
                data=data,
                position=position,
                recorded_at=when,
            )
        )
    return events


PERIOD = reports.Period(date(2026, 11, 27), date(2026, 11, 30), SHANGHAI)


@pytest.fixture
async def projected(fresh_database_url):
    pool = await migrated_pool(fresh_database_url, "reporting")
    async with pool.acquire() as conn, conn.transaction():
        await apply_page(conn, fixture_events())
    yield pool
    await pool.close()


async def test_the_timeliness_report_matches_the_hand_computed_figures(projected):
    async with projected.acquire() as conn:
        report = await reports.timeliness(conn, PERIOD, by="type")
    tiers = {t.tier: t for t in report.tiers}
    assert {tier: t.complaints for tier, t in tiers.items()} == {1: 1, 2: 2, 3: 1}
    two = tiers[2]
    # First responses of 600 s and 2,400 s: average and median 1,500 s, p90 600 + 0.9 × 1,800.
    assert (two.first_response.average, two.first_response.median, two.first_response.p90) == (1500, 1500, 2220)
    assert two.first_response_business.median == 1500  # within working hours: the same
    assert (two.resolution.average, two.resolution.count) == ((4 * 3600 + 4 * 3600) / 2, 2)
    # The same figures in the spreadsheet file (the API's format=csv, the dashboard's download).
    rows = list(csv.DictReader(io.StringIO(bytes(exports.timeliness(report).body).decode())))
    tier_two = [r for r in rows if r["tier"] == "2"]
    assert tier_two and {(r["first_response_average_s"], r["first_response_p90_s"]) for r in tier_two} == {
        ("1500.0", "2220.0")
    }
    targets = {t.target: t for t in two.targets}
    assert (targets["first_response"].decided, targets["first_response"].breached) == (2, 1)
    assert (targets["first_response"].within_share, targets["first_response"].breach_rate) == (0.5, 0.5)
    assert (targets["resolution"].within, targets["resolution"].decided) == (2, 2)
    assert (targets["progress"].decided, targets["progress"].within) == (1, 1)  # C-1: its result came first
    assert two.escalations_by_level == {1: 1}
    three = tiers[3]
    assert three.first_response.median == 64 * 3600 and three.first_response_business.median == 3600
    departments = {d.group: d for d in report.departments}
    assert (
        departments["liaison-product"].transfers_accepted,
        departments["liaison-product"].average_seconds_to_accept,
    ) == (1, 1200)
    assert departments["special-team"].hours_handled == 0.5  # 12:00 to 12:30, then liaison-product
    assert departments["liaison-product"].hours_handled == 0.5  # 12:30 to the result at 13:00
    # Asked at 12:06: the product liaison answered at 12:21 (its second answer does not count
    # again), the operations liaison not at all.
    product, operations = departments["liaison-product"], departments["liaison-operations"]
    assert (product.consultations_asked, product.consultations_answered, product.average_seconds_to_answer) == (
        1,
        1,
        900,
    )
    assert (operations.consultations_asked, operations.consultations_answered) == (1, 0)
    assert (product.consultations_late, operations.consultations_late) == (0, 1)  # operations' lead was told
    assert operations.average_seconds_to_answer is None and operations.hours_handled == 0
    drill = {(d.tier, d.value): d for d in report.drilldown}
    assert drill[(2, "product_fault")].breach_rate == 1.0 and drill[(2, "process_problem")].breach_rate == 0.0


async def test_distributions_satisfaction_and_targets(projected):
    async with projected.acquire() as conn:
        spread = await reports.distributions(conn, PERIOD)
        happy = await reports.satisfaction(conn, PERIOD)
        held = await reports.against_targets(conn, PERIOD)
    assert [(c.value, c.complaints) for c in spread.by["type"]] == [
        ("product_fault", 2),
        ("process_problem", 1),
        ("service_attitude", 1),
    ]
    assert [(p.starts, p.received, p.breached) for p in spread.daily] == [
        (date(2026, 11, 27), 1, 0),
        (date(2026, 11, 30), 3, 1),
    ]
    assert [p.starts for p in spread.weekly] == [date(2026, 11, 23), date(2026, 11, 30)]  # weeks start on Monday
    assert (happy.surveys_answered, happy.satisfied, happy.satisfied_share) == (2, 1, 0.5)
    assert happy.dissatisfied_reasons == ["call me on 138****5678 next time"]  # masked
    assert happy.second_follow_ups == ["refunded the fee"]
    ((unhappy),) = happy.dissatisfied  # each answer beside what the follow-up did, for the dashboard
    assert (unhappy.complaint_id, unhappy.complaint_type, unhappy.result, unhappy.speed) == (
        "C-2",
        "product_fault",
        2,
        3,
    )
    assert (unhappy.said, unhappy.followed_up) == ("call me on 138****5678 next time", "refunded the fee")
    figures = {f.name: f for f in held.figures}
    assert figures["responses within target"].value == 0.75 and figures["responses within target"].met is False
    assert figures["customers satisfied"].value == 0.5
    # C-1's and C-2's results went out, C-2's to an address that bounced; both surveys arrived.
    reached = figures["written results that reached the customer"]
    assert (reached.value, reached.target, reached.met) == (0.5, 0.95, False)
    assert figures["surveys that reached the customer"].value == 1.0
    assert figures["escalations for slowness, change on the previous period"].value is None  # none before


async def _rows(pool) -> list[dict]:
    rows = await pool.fetch("SELECT * FROM reporting.complaints ORDER BY complaint_id")
    complaints = [{k: (json.loads(v) if k in JSON_COLUMNS else v) for k, v in dict(r).items()} for r in rows]
    side = [
        dict(r)
        for table in SIDE_TABLES
        for r in await pool.fetch(f"SELECT * FROM reporting.complaint_{table} ORDER BY 1, 2")
    ]
    return complaints + side


@pytest.mark.parametrize("page_size", [1, 3, 7])
async def test_the_projection_is_the_same_whatever_the_pages_and_after_a_rebuild(projected, page_size):
    whole = await _rows(projected)
    events = fixture_events()
    await projected.execute(
        "TRUNCATE reporting.complaints, " + ", ".join(f"reporting.complaint_{name}" for name in SIDE_TABLES)
    )
    for i in range(0, len(events), page_size):
        async with projected.acquire() as conn, conn.transaction():
            await apply_page(conn, events[i : i + page_size])
    assert await _rows(projected) == whole


async def test_the_projector_reads_on_at_once_only_after_a_full_page(fresh_database_url):
    """A storm's events trickle in: read a page per poll, not a page per few events."""
    events = fixture_events()
    reads: list[int] = []

    async def read_page(after: int, limit: int) -> EventPage:
        page = [e for e in events if e.position > after][:limit]
        reads.append(len(page))
        return EventPage(events=page, next_after=page[-1].position if page else after)

    pool = await migrated_pool(fresh_database_url, "reporting")
    try:
        assert len(events) == 36
        projector = Projector(pool, read_page, page_size=14)
        # Two full pages go on at once; the rest is not a full page: caught up, wait for the poll.
        assert [await projector.one_pass() for _ in range(3)] == [True, True, False]
        assert reads == [14, 14, 8]
        assert await projector.checkpoint() == events[-1].position
        assert await projector.one_pass() is False
    finally:
        await pool.close()


async def test_the_policy_simulator_replays_the_period_against_a_proposal(projected):
    from services.common.deadlines.policy import POLICY_DIR, parse_policy
    from services.reporting.simulator import Happened, simulate

    async with projected.acquire() as conn:
        rows = await reports.happened(conn, PERIOD)
    happened = [Happened.from_row(r, json.loads(r["targets"])) for r in rows]
    text = (POLICY_DIR / "default.toml").read_text(encoding="utf-8")
    now = at(31, 12)

    same = simulate(parse_policy(text), happened, now=now)
    assert same.changed_complaints == 0 and same.in_force == ["default@v4"]
    first_two = next(r for r in same.rates if (r.tier, r.target) == (2, "first_response"))
    assert (first_two.complaints, first_two.late_now, first_two.breach_rate_now) == (2, 1, 0.5)  # as it happened

    # Tier 2 answered within 5 minutes instead of 30: C-1 (10 min) would have been late too.
    stricter = text.replace('first_response = "30m"', 'first_response = "5m"').replace("version = 4", "version = 5")
    proposal = simulate(parse_policy(stricter), happened, now=now)
    first_two = next(r for r in proposal.rates if (r.tier, r.target) == (2, "first_response"))
    assert (first_two.late_now, first_two.late_proposed, first_two.breach_rate_proposed) == (1, 2, 1.0)
    assert [(c.complaint_id, c.target, c.late_now, c.late_proposed) for c in proposal.changes] == [
        ("C-1", "first_response", False, True)
    ]
    assert proposal.proposed == "default@v5"


@pytest.mark.parametrize(
    "filters",
    [
        {"tier": 2},
        {"channel": "email"},
        {"tier": 1, "group": "liaison-product"},
        {"person": "a2", "complaint_type": "product_fault"},
    ],
)
async def test_every_filter_narrows_every_part_of_the_report(projected, filters):
    period = reports.Period(PERIOD.start, PERIOD.end, SHANGHAI, **filters)
    async with projected.acquire() as conn:
        report = await reports.timeliness(conn, period, by="person")
        held = await reports.against_targets(conn, period)
    column = {
        "tier": "tier",
        "channel": "channel",
        "group": "group_name",
        "person": "assignee",
        "complaint_type": "complaint_type",
    }
    rows = await projected.fetch("SELECT * FROM reporting.complaints")
    expected = {r["complaint_id"] for r in rows if all(r[column[k]] == v for k, v in filters.items())}
    assert sum(t.complaints for t in report.tiers) == len(expected) > 0
    assert sum(sum(t.escalations_by_level.values()) for t in report.tiers) == sum(
        r["escalation_level"] > 0 for r in rows if r["complaint_id"] in expected
    )
    assert held.figures


def test_a_period_is_asked_for_within_the_reports_range_or_refused_naming_the_field():
    zone = SHANGHAI
    before = datetime.now(zone).date()
    default = reports.Period.asked(None, None, zone)
    assert default.end in {before, datetime.now(zone).date()}  # today, even across midnight
    assert default.end - default.start == timedelta(days=29)
    # Near the calendar's ends the period's arithmetic overflowed: a 500 before.
    for start, end, field in ((None, date(1, 1, 1), "end"), (date(1, 1, 1), date(1, 1, 2), "start"),
                              (date(9999, 12, 31), None, "start"), (date(2026, 11, 30), date(2026, 11, 1), "start"),
                              (date(2020, 1, 1), date(2026, 1, 1), "start")):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            reports.Period.asked(start, end, zone)
        assert refused.value.status == 422 and refused.value.field == field, (start, end)
    with pytest.raises(ApiError):
        reports.Period.asked(date(2026, 1, 1), date(2026, 6, 1), zone, longest_days=92)  # a simulation's limit
    assert reports.Period.asked(date(2026, 9, 1), date(2026, 11, 30), zone, longest_days=92, tier=1).tier == 1


def test_the_breach_trend_places_each_day_by_its_date_and_shows_a_single_day():
    zone = ZoneInfo("Asia/Shanghai")
    month = reports.Period(start=date(2026, 11, 4), end=date(2026, 12, 3), zone=zone)
    days = [
        reports.TrendPoint(starts=date(2026, 11, 4), received=4, breached=1, escalated=0),
        reports.TrendPoint(starts=date(2026, 11, 19), received=2, breached=2, escalated=1),  # 15 of 29 days in
        reports.TrendPoint(starts=date(2026, 12, 3), received=5, breached=0, escalated=0),
    ]
    trend = _trend_points(days, month, width=580, height=100)
    assert [(d["x"], d["y"]) for d in trend["dots"]] == [(0, 75.0), (300.0, 0), (580.0, 100.0)]
    assert trend["points"] == "0.0,75.0 300.0,0.0 580.0,100.0"
    assert trend["labels"] == [(0, "2026-11-04"), (580, "2026-12-03")]  # the period, not its first and last days

    (today,) = _trend_points(days[2:], month, width=580, height=100)["dots"]  # one day: a dot where it falls
    assert (today["x"], today["y"], today["rate"]) == (580.0, 100.0, 0.0)


def test_a_departments_time_reads_in_minutes_under_an_hour_else_in_hours():
    assert [_span(s, "en") for s in (None, 59, 25 * 60, 3600, 5.4 * 3600)] == ["–", "1 min", "25 min", "1.0 h", "5.4 h"]
    assert _span(90 * 60, "zh") == "1.5 小时" and _span(600, "zh") == "10 分钟"


async def test_while_the_workflow_service_cannot_name_the_departments_the_dashboard_shows_their_ids(caplog):
    """A refused connection (nothing listens on the port): no titles, and each group by its id."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{free_port()}") as http:
        titles = await Directory(http).group_titles("a-staff-token")
    assert titles == {}
    assert title_in(titles, "front-line-service", "zh") == "front-line-service"
    assert "department titles unavailable, showing none" in caplog.text
    known = {"front-line-service": {"zh": "一线服务组", "en": "Front line, service"}}
    assert title_in(known, "front-line-service", "zh") == "一线服务组"
    assert title_in(known, "standby", "en") == "standby"  # a group the routing no longer has


def test_a_consultations_answer_by_is_met_once_every_department_asked_has_answered():
    """The workflow meets consultation_answer when the last department asked answers (or the
    complaint is resolved); the reports fold it the same way, late or not."""
    from services.reporting.facts import ComplaintFacts, fold

    due = at(30, 14).isoformat()
    steps = [
        ("ConsultationRequested", at(30, 10), {"groups": ["liaison-product", "liaison-operations"],
                                               "deadlines": {"consultation_answer": due}}),
        ("ConsultationAnswered", at(30, 11), {"group": "liaison-product", "deadlines": {"consultation_answer": due}}),
        ("SlaBreached", at(30, 14), {"target": "consultation_answer", "deadline": due, "due_at": due}),
        ("ConsultationAnswered", at(30, 14, 30), {"group": "liaison-operations", "deadlines": {}}),
    ]  # fmt: skip
    facts, unanswered = ComplaintFacts("C-9"), ComplaintFacts("C-10")
    for n, (kind, when, data) in enumerate(steps, start=1):
        event = StoredEvent(
            event_id=uuid.uuid4(),
            stream_id="C-9",
            version=n,
            type=kind,
            occurred_at=when,
            data=data,
            position=n,
            recorded_at=when,
        )
        fold(facts, event)
        if n <= 2:
            fold(unanswered, event.model_copy(update={"stream_id": "C-10"}))
        if n == 2:
            assert facts.targets["consultation_answer"]["met"] is None  # operations has not answered
    assert facts.targets["consultation_answer"] == {"due": _utc_of(at(30, 14)), "met": _utc_of(at(30, 14, 30)),
                                                    "breached": True}  # fmt: skip
    assert facts.breached is False  # a department late to another: not a breach of the complaint's own targets
    resolved = StoredEvent(
        event_id=uuid.uuid4(),
        stream_id="C-10",
        version=3,
        type="Resolved",
        occurred_at=at(30, 12),
        data={},
        position=9,
        recorded_at=at(30, 12),
    )
    fold(unanswered, resolved)
    assert unanswered.targets["consultation_answer"]["met"] == _utc_of(at(30, 12))


def test_an_approval_given_late_counts_in_its_targets_row_not_as_the_complaint_breached():
    from services.reporting.facts import ComplaintFacts, fold

    due = at(30, 12).isoformat()
    steps = [
        ("SlaBreached", at(30, 12), {"target": "compensation_approval", "deadline": due, "due_at": due}),
        ("Escalated", at(30, 12), {"target": "compensation_approval", "level": 1, "to": "manager"}),
    ]
    facts = ComplaintFacts("C-11")
    for n, (kind, when, data) in enumerate(steps, start=1):
        fold(facts, StoredEvent(event_id=uuid.uuid4(), stream_id="C-11", version=n, type=kind, occurred_at=when,
                                data=data, position=n, recorded_at=when))  # fmt: skip
    assert facts.targets["compensation_approval"]["breached"] is True and facts.escalation_level == 1
    assert facts.breached is False  # the customer is owed the resolution, which the approval held up, not the approval
    fold(facts, StoredEvent(event_id=uuid.uuid4(), stream_id="C-11", version=3, type="SlaBreached",
                            occurred_at=at(30, 13), data={"target": "resolution"}, position=3,
                            recorded_at=at(30, 13)))  # fmt: skip
    assert facts.breached is True


def test_a_result_told_by_phone_after_every_address_failed_counts_as_reached():
    from services.reporting.facts import ComplaintFacts, fold

    facts = ComplaintFacts("C-12")

    def step(n: int, kind: str, data: dict) -> None:
        fold(facts, StoredEvent(event_id=uuid.uuid4(), stream_id="C-12", version=n, type=kind, occurred_at=at(30, 15),
                                data=data, position=n, recorded_at=at(30, 15)))  # fmt: skip

    step(1, "FeedbackSent", {})
    step(2, "CustomerNotReached", {"template": "survey_request"})
    step(3, "CustomerNotReached", {"template": "feedback"})
    assert (facts.feedback_undelivered, facts.survey_undelivered) == (True, True)
    step(4, "CustomerReached", {"how": "phone", "messages": ["survey_request", "feedback"]})
    assert (facts.feedback_undelivered, facts.survey_undelivered) == (False, True)  # the survey was not taken


def _utc_of(moment: datetime) -> str:
    from services.reporting.facts import _utc

    return _utc(moment)
