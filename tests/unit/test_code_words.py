"""The console and the dashboard speak the reader's language for the domain's codes too: every
code the system can record has its words in Chinese and English, so a new channel, stage,
target, event or message cannot reach a page as a raw code."""

import re
from pathlib import Path
from typing import get_args

import pytest

from services.common.code_words import FIELD_VALUES, VALUES, value_label
from services.common.deadlines.policy import DEADLINES
from services.common.domain_events import EVENT_TYPES
from services.workflow.console.pages import _TIMELINE_FIELDS
from services.workflow.contract.actions import CompensationKind
from services.workflow.contract.names import RANK
from services.workflow.contract.record import (
    Channel,
    Classification,
    ComplaintType,
    Difficulty,
    Responsibility,
    Scope,
    Urgency,
)
from services.workflow.contract.view import Stage
from services.workflow.stages import Action

ROOT = Path(__file__).resolve().parents[2]


def _templates() -> set[str]:
    return {p.name.split(".")[0] for p in (ROOT / "services/notify/templates").glob("*.subject.j2")}


def _delivery_statuses() -> set[str]:
    migrations = "".join(p.read_text() for p in sorted((ROOT / "services/notify/migrations").glob("*.sql")))
    allowed = re.findall(r"CHECK \(status IN \(([^)]*)\)\)", migrations)[-1]  # the newest constraint
    return set(re.findall(r"'(\w+)'", allowed))


CODES = {
    "stage": {s.value for s in Stage},
    "action": {a.value for a in Action},
    "target": set(DEADLINES),
    "channel": {c.value for c in Channel},
    "complaint_type": set(get_args(ComplaintType)),
    "urgency": set(get_args(Urgency)),
    "responsibility": set(get_args(Responsibility)),
    "scope": set(get_args(Scope)),
    "difficulty": set(get_args(Difficulty)),
    "classification_field": set(Classification.model_fields) - {"decided_by", "rules_version", "cause", "needs_review"},
    "compensation_kind": set(get_args(CompensationKind)),
    "role": set(RANK),
    "template": _templates(),
    "delivery": _delivery_statuses(),
    "event": set(EVENT_TYPES),
    "detail": set(_TIMELINE_FIELDS),
}


@pytest.mark.parametrize("kind", sorted(CODES))
def test_every_code_the_system_records_has_words_in_both_languages(kind):
    assert CODES[kind], f"found no {kind} codes to check"
    missing = CODES[kind] - set(VALUES[kind])
    assert not missing, f"{kind} without words: {sorted(missing)}"
    for code in CODES[kind]:
        zh, en = VALUES[kind][code]
        assert re.search(r"[\u4e00-\u9fff]", zh) or zh == "App", f"{kind} {code}: {zh!r} is not Chinese"
        assert en and not re.search(r"[\u4e00-\u9fff]", en), f"{kind} {code}: {en!r} is not English"


def test_the_field_kinds_name_tables_that_exist():
    assert set(FIELD_VALUES.values()) <= set(VALUES)
    for kind in ("complaint_type", "urgency", "responsibility", "scope", "difficulty"):  # a classification row's value
        assert kind in VALUES


def test_a_code_reads_in_the_readers_language():
    assert value_label("target", "first_response", "zh") == "首次响应"
    assert value_label("target", "first_response", "en") == "first response"
    assert value_label("event", "ComplaintReceived", "zh") == "收到投诉"
    assert value_label("decision", True, "zh") == "批准"


def test_an_unknown_code_shows_as_itself_and_free_text_is_left_as_written():
    assert value_label("channel", "carrier_pigeon", "zh") == "carrier pigeon"  # not hidden, not invented
    assert value_label("", "order_id 42 was_charged", "zh") == "order_id 42 was_charged"  # a message, not a code
    assert value_label("channel", None, "en") == ""
