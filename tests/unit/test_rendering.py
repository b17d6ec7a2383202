"""What customers read: every customer template in Chinese and English, times written out in
their zone, no internal names of staff or groups."""

import pytest

from services.common.written_time import written_time
from services.notify.contract import NotificationRequest
from services.notify.rendering import render

CUSTOMER_TEMPLATES = {
    "received": {"first_response_by": "2026-11-30T01:30:00+00:00", "resolution_by": "2026-12-01T02:00:00+00:00"},
    "after_hours": {"handling_starts": "2026-12-07T09:00:00+08:00", "first_response_by": "2026-12-07T02:00:00+00:00"},
    "acknowledged": {
        "handler": "zhou.ting",
        "group": "front-line-service",
        "next_update_by": "2026-11-30T09:00:00Z",
        "resolution_by": "2026-12-01T02:00:00+00:00",
    },
    "progress_update": {"message": "We have found the second charge."},
    "solution_plan": {"handler": "zhou.ting", "plan": "Refund today.", "resolution_by": "2026-12-01T02:00:00+00:00"},
    "info_request": {"question": "Which order?"},
    "transfer_accepted": {"handler": "ma.jun", "group": "liaison-operations"},
    "feedback": {
        "resolution": {
            "cause": "a retry",
            "measures_taken": "refunded",
            "improvement_plan": "one key",
            "compensation": None,
        }
    },
    "survey_request": {"answer_by": "2026-11-26T07:04:07.352548+00:00"},
    "follow_up_promised": {"follow_up_by": "2026-12-02T02:00:00+00:00"},
    "reopened": {
        "reason": "still charged",
        "by": "customer",
        "owner": "zhou.ting",
        "resolution_by": "2026-12-03T02:00:00+00:00",
    },
    "repeat_linked": {"stage": "acknowledged", "next_deadline": "2026-12-01T02:00:00+00:00"},
}
INTERNAL_NAMES = ("zhou.ting", "ma.jun", "front-line-service", "liaison-operations")


def request(template: str, language: str | None, **variables) -> NotificationRequest:
    return NotificationRequest(
        complaint_id="20261130-ABCDEF12",
        template=template,
        channel="email",
        recipient_name="王芳",
        recipient_address="wang.fang@example.com",
        language=language,
        variables={
            "complaint_id": "20261130-ABCDEF12",
            "status_url": "https://example.com/track/t",
            "timezone": "Asia/Shanghai",
            **variables,
        },
    )


@pytest.mark.parametrize("language", ["zh-CN", "en", None])
@pytest.mark.parametrize("template", sorted(CUSTOMER_TEMPLATES))
def test_every_customer_message_reads_in_the_language_and_names_no_one_inside(template, language):
    subject, body = render(request(template, language, **CUSTOMER_TEMPLATES[template]))
    text = subject + body
    assert "20261130-ABCDEF12" in text and "{{" not in text
    assert not any(name in text for name in INTERNAL_NAMES), text
    assert "+00:00" not in text and "T0" not in text  # no machine timestamps
    if language == "zh-CN":
        assert "您好" in body and "Dear" not in body
    if language == "en":
        assert "Dear" in body and "您好" not in body


def test_times_are_written_in_the_readers_zone_and_language():
    moment = "2026-11-26T07:04:07.352548+00:00"  # 15:04 in Shanghai
    assert written_time(moment, "zh-CN", "Asia/Shanghai") == "周四 2026年11月26日 15:04（北京时间）"
    assert written_time(moment, "en", "Asia/Shanghai") == "Thu 26 Nov 2026, 15:04 (China Standard Time)"
    assert written_time(moment, "en", "Europe/London") == "Thu 26 Nov 2026, 07:04 (Europe/London)"
    assert written_time("2026-11-26 17:00", "en", "Asia/Shanghai").startswith("Thu 26 Nov 2026, 17:00")  # older text
    _, body = render(request("survey_request", "en", answer_by=moment))
    assert "by Thu 26 Nov 2026, 15:04 (China Standard Time)" in body
