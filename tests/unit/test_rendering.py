"""What customers read: every customer template in Chinese and English, times written out in
their zone, no internal names of staff or groups. What staff read: every alert in both languages,
people by name and groups by title, codes in words, times written out."""

import re
from pathlib import Path

import pytest

from services.common.settings import Settings
from services.common.written_time import written_time
from services.notify.contract import NotificationRequest
from services.notify.rendering import render
from services.notify.staff_words import load_staff_words

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
    "follow_up_done": {"outcome": "Called you; the refund went out today.", "extra_compensation": "a 50 yuan voucher"},
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


DUE = "2026-11-30T01:30:00+00:00"
SLA = {"target": "first_response", "deadline": DUE, "due_at": DUE, "tier": 2, "owner": "zhou.ting"}
STAFF_TEMPLATES = {
    "sla_warning": {**SLA, "fraction": 0.8, "role": "owner"},
    "sla_escalation": {**SLA, "level": 1, "breach": True, "role": "group_lead"},
    "progress_reminder": {**SLA, "target": "progress", "role": "owner"},
    "transfer_request": {
        "from_group": "front-line-service",
        "to_group": "liaison-operations",
        "reason": "billing owns double charges",
        "tier": 2,
        "role": "liaison",
        "owner": "zhou.ting",
    },
    "transfer_declined": {
        "from_group": "front-line-service",
        "to_group": "liaison-operations",
        "reason": "not ours",
        "declined_by": "ma.jun",
        "tier": 2,
    },
    "transfer_disputed": {
        "from_group": "front-line-service",
        "to_group": "liaison-operations",
        "reason": "not ours",
        "declined_by": "ma.jun",
        "requested_by": "zhou.ting",
        "tier": 2,
    },
    "consultation_requested": {
        "from_group": "front-line-service",
        "to_group": "liaison-product",
        "question": "did the 14:00 release change how invoices are numbered?",
        "asked_by": "zhou.ting",
        "tier": 2,
        "answer_by": "2026-11-30T01:30:00+00:00",
    },
    "consultation_answered": {
        "group": "liaison-product",
        "answered_by": "zheng.li",
        "question": "did the 14:00 release change how invoices are numbered?",
        "answer": "yes: a fix goes out at 18:00",
    },
    "compensation_approval": {
        "kind": "written_apology",
        "amount": None,
        "reason": "rude",
        "proposed_by": "zhou.ting",
        "tier": 2,
    },
    "compensation_decided": {
        "kind": "refund",
        "amount": 1500.0,  # as the workflow records it (a float)
        "approved": True,
        "note": "within a lead's limit",
        "decided_by": "liu.yang",
        "tier": 2,
    },
    "complaint_reopened": {
        "reason": "still charged",
        "by": "customer",
        "owner": "zhou.ting",
        "resolution_by": DUE,
        "tier": 2,
    },
    "customer_wrote_again": {"message": "still waiting", "count": 2, "tier": 2},
    "customer_not_reached": {"message": "feedback", "channel": "email", "reason": "550 user unknown", "tier": 2},
    "follow_up_needed": {
        "survey": {"satisfaction_result": 2, "satisfaction_speed": 1, "suggestion": "faster"},
        "tier": 2,
    },
    "liaison_assigned": {
        "tier": 2,
        "group": "senior-agents",
        "assignee": "liu.yang",
        "complaint_type": "process_problem",
        "summary": "tier 2 · 快递延误",
    },
    "urgent_call": {"tier": 1, "group": "special-team", "assignee": "chen.jie", "summary": "tier 1 · 起火"},
    "surge_warning": {
        "since": "2026-11-30T01:30:00+00:00",
        "per_minute": 40,
        "threshold": 30,
        "overflow_group": "standby",
    },
    "batch_incident": {"batch_id": "B-1", "cause": "payment system down", "complaints": 12},
    "review_action_overdue": {"action": "one key", "action_id": "a-1", "subject": "double charges", "due_at": DUE},
    "review_action_given": {
        "action": "one key",
        "action_id": "a-1",
        "subject": "double charges",
        "due_at": DUE,
        "from_owner": "zhou.ting",
        "moved_by": "liu.yang",
        "page": "http://console/reports?next=/dashboard/reviews/mine",
    },
    "alert_email": {
        "alerts": [{"subject": "[tier 2] 20261130-ABCDEF12 / 超时升级", "complaint_id": "20261130-ABCDEF12", "at": DUE}]
        * 2,
        "text": None,
        "count": 2,
        "more": 0,
        "console_url": "http://console",
    },
}
STAFF_WORDS = load_staff_words(Settings().roster_file, Settings().routing_file)
TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "services/notify/templates"


def _staff_templates() -> set[str]:
    """Templates without a language of their own: what staff read."""
    names = {p.name.split(".")[0] for p in TEMPLATE_DIR.glob("*.subject.j2")}
    return {n for n in names if not (TEMPLATE_DIR / f"{n}.en.subject.j2").exists()}


def test_every_staff_alert_is_checked_below():
    assert _staff_templates() == set(STAFF_TEMPLATES)


@pytest.mark.parametrize("template", sorted(STAFF_TEMPLATES))
def test_every_staff_alert_reads_in_both_languages_with_people_by_name_and_codes_in_words(template):
    alert = request(template, None, **STAFF_TEMPLATES[template]).model_copy(
        update={"channel": "internal", "recipient_address": "staff:wang.fang"}
    )
    subject, body = render(alert, STAFF_WORDS)
    text = subject + body
    assert "{{" not in text
    assert re.search(r"[\u4e00-\u9fff]", subject) and re.search(r"[A-Za-z]{3}", subject), subject  # both languages
    assert re.search(r"[\u4e00-\u9fff]", body) and re.search(r"[A-Za-z]{3} [a-z]{3}", body), body
    assert not any(name in text for name in INTERNAL_NAMES + ("liu.yang", "chen.jie", "senior-agents")), text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text  # no code ("first_response", "group_lead")
    assert "+00:00" not in text and "T01:30" not in text  # no machine timestamps


def test_a_department_asked_for_its_view_is_told_by_when_to_answer():
    asked = STAFF_TEMPLATES["consultation_requested"]
    _, body = render(
        request("consultation_requested", None, **asked).model_copy(update={"channel": "internal"}), STAFF_WORDS
    )
    assert "answer on its page in the console by Mon 30 Nov 2026, 09:30 (China Standard Time)." in body
    assert "答复期限：周一 2026年11月30日 09:30（北京时间）" in body
    # Asked under a policy with no answer-by (and by workflows from before it): no time promised.
    older = {k: v for k, v in asked.items() if k != "answer_by"}
    for variables in (older, {**older, "answer_by": None}):
        alert = request("consultation_requested", None, **variables).model_copy(update={"channel": "internal"})
        _, body = render(alert, STAFF_WORDS)
        assert "answer on its page in the console." in body and "答复期限" not in body


def test_a_staff_alert_names_people_and_groups_as_staff_call_them():
    _, body = render(
        request("transfer_request", None, **STAFF_TEMPLATES["transfer_request"]).model_copy(
            update={"channel": "internal"}
        ),
        STAFF_WORDS,
    )
    assert "Front line, service transfers complaint 20261130-ABCDEF12 to Operations liaison." in body
    assert "一线服务组 将投诉 20261130-ABCDEF12 转给 运营业务联络组。" in body
    assert "first responder (Zhou Ting)" in body
    _, escalation = render(request("sla_escalation", None, **STAFF_TEMPLATES["sla_escalation"]), STAFF_WORDS)
    assert (
        "missed its first response deadline (Mon 30 Nov 2026, 09:30 (China Standard Time)); owner Zhou Ting"
        in escalation
    )
    assert "已超过首次响应时限（周一 2026年11月30日 09:30（北京时间））" in escalation
    _, unknown = render(
        request("sla_escalation", None, **{**STAFF_TEMPLATES["sla_escalation"], "owner": "someone.gone"})
    )
    assert "owner someone.gone" in unknown  # off the roster (or no words loaded): the id, never nothing


def test_amounts_are_written_as_money_not_as_floats():
    """The workflow records an amount as a float: '1500.0 yuan' read like a machine's."""
    from services.common.money import written_amount

    _, body = render(request("compensation_decided", None, **STAFF_TEMPLATES["compensation_decided"]), STAFF_WORDS)
    assert "the refund of 1,500 yuan you proposed" in body and "（1,500 元）" in body
    assert "1500.0" not in body
    assert [written_amount(a, lang) for a, lang in ((1500.5, "en"), (12, "zh-CN"), (None, "en"), ("n/a", "zh"))] == [
        "1,500.50 yuan",
        "12 元",
        "",
        "n/a",
    ]


def test_granted_compensations_are_cited_in_the_customers_language():
    """The written result cites what was granted (002): its kind in words, its amount as money."""
    from services.common.money import written_compensations

    granted = [("written_apology", None), ("refund", 1500.0), ("gift", 30.5)]
    assert written_compensations(granted, "zh-CN") == "书面致歉；退款 1,500 元；赠品 30.50 元"
    assert written_compensations(granted, "en") == "written apology; refund of 1,500 yuan; gift of 30.50 yuan"
    assert written_compensations([], "en") == ""
