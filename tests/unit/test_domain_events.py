"""Every domain event type the workflow writes has one payload model, and what the workflow
stored reads back through it unchanged (tests/data/stored_events.json holds one payload of each
type as the current generation stored it; `python -m tests.workflow.record_event_examples`)."""

import json
from pathlib import Path

import pytest

from services.common.domain_events import EVENT_TYPES, SlaBreached, TierAssigned, payload_of
from services.common.events import STAGE_AFTER

STORED = json.loads((Path(__file__).parents[1] / "data" / "stored_events.json").read_text(encoding="utf-8"))


def test_every_type_the_workflow_stores_has_its_model_and_no_model_is_unused():
    assert set(STORED) == set(EVENT_TYPES)
    assert set(STAGE_AFTER) <= set(EVENT_TYPES)


@pytest.mark.parametrize("event_type", sorted(STORED))
def test_a_stored_payload_reads_as_its_type_and_writes_back_the_same(event_type):
    payload = payload_of(event_type, STORED[event_type])
    assert type(payload) is EVENT_TYPES[event_type]
    assert payload.data() == STORED[event_type]


def test_times_are_read_as_times():
    breach = payload_of("SlaBreached", STORED["SlaBreached"])
    assert isinstance(breach, SlaBreached) and breach.deadline is not None and breach.deadline.tzinfo is not None
    assert all(
        at.tzinfo is not None for at in (payload_of("TierAssigned", STORED["TierAssigned"]).deadlines or {}).values()
    )


def test_an_older_or_odd_payload_reads_leniently():
    older = payload_of("TierAssigned", {"tier": 2, "complaint_type": "other"})  # before intake classified
    assert isinstance(older, TierAssigned) and older.tier == 2 and older.urgency is None and older.deadlines is None
    assert payload_of("TierAssigned", {"tier": "not a tier"}) is None  # logged; the reader goes on
    assert payload_of("SomethingNew", {"x": 1}) is None
