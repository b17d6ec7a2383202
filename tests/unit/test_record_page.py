"""The console's form for a complaint staff take down: its boxes as the record, and a refusal's
field back as the box to correct."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.common.web import ApiError
from services.workflow.console.record_page import form_field, taken_down

SHANGHAI = ZoneInfo("Asia/Shanghai")
FORM = {
    "csrf": "t",
    "record_key": "k",
    "channel": "hotline",
    "customer_name": " Wu Hao ",
    "phone": "+86 138-1234-5678",
    "email": "",
    "customer_language": "en",
    "segment": "vip",
    "description": "the headphones have no sound on the left",
    "demand": "a new pair",
    "impact": "   ",
    "occurred_at": "2026-12-01T10:15",
}


def test_the_boxes_become_the_record_and_the_time_is_the_organisations():
    taken = taken_down(FORM, SHANGHAI)
    assert taken.channel.value == "hotline"
    assert (taken.customer.name, taken.customer.phone, taken.customer.email) == ("Wu Hao", "+86 138-1234-5678", None)
    assert (taken.customer.language, taken.customer.segment) == ("en", "vip")
    assert (taken.demand, taken.impact, taken.recorded_by) == ("a new pair", None, None)
    assert taken.occurred_at == datetime(2026, 12, 1, 2, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    "changed, box",
    [
        ({"phone": ""}, "phone"),  # neither phone nor e-mail: the customer cannot be answered
        ({"email": "not an address"}, "email"),
        ({"customer_name": ""}, "customer_name"),
        ({"channel": "web_form"}, "channel"),  # an adapter's channel
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"description": ""}, "description"),
        ({"customer_language": "fr"}, "customer_language"),
    ],
)
def test_a_refusal_names_the_box_to_correct(changed, box):
    with pytest.raises(ApiError) as refused:
        taken_down({**FORM, **changed}, SHANGHAI)
    assert (refused.value.status, refused.value.field) == (422, box)
    assert "Value error" not in refused.value.message


def test_intakes_field_names_are_the_forms_boxes():
    assert [form_field(f) for f in ("customer.phone", "customer.language", "customer", "occurred_at", None)] == [
        "phone",
        "customer_language",
        "phone",
        "occurred_at",
        None,
    ]
