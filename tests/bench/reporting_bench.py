"""`make bench`: reporting at scale. With N events in the store (default 1,000,000: about
90,000 complaints over six months, each with its lifecycle and some breaches):

1. catch-up rate of the projection from zero (events/s), reading pages as the feed serves
   them (straight from the store: the HTTP hop of the feed is left out);
2. p95 of the timeliness report for one month on the projection, against the same figures
   computed by a plain SQL aggregate over the raw events, in the same run, and the ratio.

Targets: catch-up >= 5,000 events/s, p95 <= 50 ms, >= 20x faster than the plain aggregate.
"""

import argparse
import asyncio
import io
import json
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

from services.common.db import create_pool, database_url_for, ensure_database, migrate, start_embedded_postgres
from services.common.events import EventPage
from services.reporting import reports
from services.reporting.projector import Projector
from services.workflow.eventstore import EventStore

SERVICES = Path(__file__).resolve().parents[2] / "services"
SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 182
TYPES = ("product_fault", "service_attitude", "process_problem", "other")
CHANNELS = ("hotline", "email", "web_form", "app")


def lifecycle(complaint_id: str, received: datetime, rng: random.Random) -> list[tuple[str, datetime, dict]]:
    """One complaint's events as the workflow records them, with a breach for about one in six."""
    tier = rng.choice((1, 2, 2, 3, 3, 3))
    first_due = received + timedelta(minutes={1: 15, 2: 30, 3: 60}[tier])
    resolution_due = received + timedelta(hours={1: 24, 2: 24, 3: 48}[tier])
    late = rng.random() < 1 / 6
    answered = (
        first_due + timedelta(minutes=rng.randint(1, 90))
        if late
        else received + timedelta(seconds=rng.randint(60, int((first_due - received).total_seconds())))
    )
    resolved = answered + timedelta(hours=rng.uniform(1, 30))
    iso = lambda m: m.isoformat()  # noqa: E731
    events = [
        ("ComplaintReceived", received, {"channel": rng.choice(CHANNELS), "received_at": iso(received)}),
        ("TierAssigned", received, {"tier": tier, "complaint_type": rng.choice(TYPES), "urgency": "medium",
                                    "responsibility": "billing", "scope": "single_customer", "rule": "bench",
                                    "policy": "default@v3",
                                    "deadlines": {"first_response": iso(first_due),
                                                  "resolution": iso(resolution_due)}}),
        ("Assigned", received, {"group": f"group-{tier}", "assignee": f"agent-{rng.randint(1, 40)}"}),
    ]  # fmt: skip
    if late:
        events += [
            ("SlaBreached", first_due, {"target": "first_response", "deadline": iso(first_due)}),
            ("Escalated", first_due, {"target": "first_response", "level": 1, "to": "group_lead"}),
        ]
    events += [
        ("Acknowledged", answered, {"staff_id": "agent", "deadlines": {"resolution": iso(resolution_due)}}),
        ("ProgressPosted", answered + timedelta(minutes=30), {"staff_id": "agent", "message": "on it",
                                                             "deadlines": {"resolution": iso(resolution_due)}}),
        ("Resolved", resolved, {"staff_id": "agent", "cause": "c", "measures_taken": "m", "improvement_plan": "p"}),
        ("FeedbackSent", resolved, {"channel": "email"}),
        ("SurveyRequested", resolved, {}),
        ("SurveyAnswered", resolved + timedelta(hours=2), {"satisfaction_result": rng.randint(2, 5),
                                                          "satisfaction_speed": rng.randint(2, 5)}),
        ("Closed", resolved + timedelta(hours=2), {}),
    ]  # fmt: skip
    return events


async def fill(pool: asyncpg.Pool, target_events: int) -> int:
    """COPY generated lifecycles into workflow.events until about `target_events` are stored."""
    rng = random.Random(7)
    written, n = 0, 0
    while written < target_events:
        buffer = io.StringIO()
        for _ in range(5000):
            n += 1
            complaint_id = f"B{n:08d}"
            received = START + timedelta(seconds=rng.uniform(0, DAYS * 86400))
            for version, (kind, at, data) in enumerate(lifecycle(complaint_id, received, rng), start=1):
                payload = json.dumps(data).replace("\\", "\\\\")
                buffer.write(f"{uuid.uuid4()}\t{complaint_id}\t{version}\t{kind}\t{payload}\t{at.isoformat()}\n")
                written += 1
        buffer.seek(0)
        async with pool.acquire() as conn:
            await conn.copy_to_table(
                "events", schema_name="workflow", source=io.BytesIO(buffer.getvalue().encode()),
                columns=["event_id", "stream_id", "version", "type", "data", "occurred_at"],
            )  # fmt: skip
    await pool.execute("ANALYZE workflow.events")
    return written


PLAIN_AGGREGATE = """
WITH received AS (
    SELECT stream_id, occurred_at AS at FROM workflow.events
    WHERE type = 'ComplaintReceived' AND occurred_at >= $1 AND occurred_at < $2),
tiers AS (
    SELECT e.stream_id, (e.data->>'tier')::int AS tier FROM workflow.events e JOIN received r USING (stream_id)
    WHERE e.type = 'TierAssigned'),
acks AS (
    SELECT e.stream_id, min(e.occurred_at) AS at FROM workflow.events e JOIN received r USING (stream_id)
    WHERE e.type = 'Acknowledged' GROUP BY 1),
resolved AS (
    SELECT e.stream_id, max(e.occurred_at) AS at FROM workflow.events e JOIN received r USING (stream_id)
    WHERE e.type = 'Resolved' GROUP BY 1),
breaches AS (
    SELECT e.stream_id, count(*) AS n FROM workflow.events e JOIN received r USING (stream_id)
    WHERE e.type = 'SlaBreached' GROUP BY 1)
SELECT t.tier, count(*) AS complaints,
       avg(extract(epoch FROM a.at - r.at)) AS first_response_avg,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.at - r.at)) AS first_response_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM a.at - r.at)) AS first_response_p90,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - r.at)) AS resolution_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM s.at - r.at)) AS resolution_p90,
       count(b.stream_id) AS breached
FROM received r JOIN tiers t USING (stream_id) LEFT JOIN acks a USING (stream_id)
     LEFT JOIN resolved s USING (stream_id) LEFT JOIN breaches b USING (stream_id)
GROUP BY t.tier ORDER BY t.tier"""


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18] if len(samples) >= 20 else max(samples)


async def main(events: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="reporting-bench-") as tmp:
        server = start_embedded_postgres(Path(tmp))
        try:
            admin = server.get_uri("postgres")
            await ensure_database(admin, "bench")
            pool = await create_pool(database_url_for(admin, "bench"))
            for service in ("workflow", "reporting"):
                await migrate(pool, service, SERVICES / service / "migrations")
            started = time.perf_counter()
            written = await fill(pool, events)
            print(f"{written:,} events stored in {time.perf_counter() - started:.0f} s")

            store = EventStore(pool)

            async def read_page(after: int, limit: int) -> EventPage:
                page = await store.read_all(after=after, limit=limit)
                return EventPage(events=page, next_after=page[-1].position if page else after)

            projector = Projector(pool, read_page)
            started = time.perf_counter()
            while await projector.catch_up_once():
                pass
            catch_up = written / (time.perf_counter() - started)
            await pool.execute("VACUUM ANALYZE")  # as autovacuum keeps it: index-only scans see the visibility map

            month = reports.Period(date(2026, 8, 1), date(2026, 8, 31), SHANGHAI)
            low, high = month.bounds()
            projected, plain = [], []
            async with pool.acquire() as conn:
                for _ in range(runs):
                    t = time.perf_counter()
                    report = await reports.timeliness(conn, month)
                    projected.append((time.perf_counter() - t) * 1000)
                for _ in range(max(3, runs // 10)):
                    t = time.perf_counter()
                    baseline = await conn.fetch(PLAIN_AGGREGATE, low, high)
                    plain.append((time.perf_counter() - t) * 1000)
            counted = sum(t.complaints for t in report.tiers)
            assert counted == sum(r["complaints"] for r in baseline), (counted, baseline)
            print(f"projection catch-up: {catch_up:,.0f} events/s (target >= 5,000)")
            print(
                f"timeliness report for a month ({counted:,} complaints): p95 {p95(projected):.1f} ms "
                f"(target <= 50 ms); plain aggregate over the raw events: p95 {p95(plain):.1f} ms"
            )
            print(
                f"ratio: the report is {p95(plain) / p95(projected):.1f}x faster than the plain aggregate "
                "(target >= 20x)"
            )
            await pool.close()
        finally:
            server.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.runs))
