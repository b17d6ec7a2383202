"""The worker measures how late each deadline's warning, breach or escalation was recorded
(`complaint_deadline_lag_seconds`), so that SREs see a worker falling behind in production, not
only in `make bench`: once a step, whatever its retries, and only for deadline events."""

import uuid
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from services.common import domain_events as ev
from services.common.events import NewEvent
from services.workflow.activities import ComplaintActivities, EventsAndMessages


def sample(event_type: str, name: str = "count", bucket: str | None = None) -> float:
    labels = {"type": event_type, **({"le": bucket} if bucket else {})}
    return REGISTRY.get_sample_value(f"complaint_deadline_lag_seconds_{name}", labels) or 0.0


def step(stream: str, due_at: datetime) -> EventsAndMessages:
    facts = {"target": "first_response", "deadline": due_at.isoformat(), "due_at": due_at.isoformat()}
    payloads = [ev.SlaBreached(**facts), ev.Escalated(**facts, level=1, to="lead"), ev.NoteAdded(text="called back")]
    return EventsAndMessages(
        events=[
            NewEvent(
                event_id=uuid.uuid4(),
                stream_id=stream,
                version=n,
                type=p.type,
                occurred_at=datetime.now(UTC),
                data=p.data(),
            )
            for n, p in enumerate(payloads, start=1)
        ]
    )


async def test_a_breach_recorded_late_is_measured_once_however_often_its_step_is_retried(store):
    activities = ComplaintActivities(store, router=None, http=None, notify_url="http://unused.invalid")  # type: ignore[arg-type]
    late = step(f"C-{uuid.uuid4().hex[:8]}", due_at=datetime.now(UTC) - timedelta(seconds=42))
    before = {t: (sample(t), sample(t, "sum"), sample(t, "bucket", "30.0")) for t in ("SlaBreached", "Escalated")}
    notes_before = sample("NoteAdded")

    await activities.record(late)
    await activities.record(late)  # the retry of a step whose answer was lost: stored once, measured once

    for event_type, (count, total, within_30s) in before.items():
        assert sample(event_type) == count + 1
        assert 42 <= sample(event_type, "sum") - total < 42 + 60  # the wait, not the moment
        assert sample(event_type, "bucket", "30.0") == within_30s  # 42 s late is past the 30 s bucket
    assert sample("NoteAdded") == notes_before == 0.0  # no deadline, no lag


async def test_a_deadline_recorded_on_time_reads_no_lag_below_zero(store):
    activities = ComplaintActivities(store, router=None, http=None, notify_url="http://unused.invalid")  # type: ignore[arg-type]
    early = step(f"C-{uuid.uuid4().hex[:8]}", due_at=datetime.now(UTC) + timedelta(seconds=5))
    count, total = sample("Escalated"), sample("Escalated", "sum")

    await activities.record(early)  # a clock a little behind the engine's: never a negative lag

    assert sample("Escalated") == count + 1
    assert sample("Escalated", "sum") == total
    assert sample("Escalated", "bucket", "0.5") >= 1
