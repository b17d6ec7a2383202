"""Masking gaps found by a hostile read of the feed, the inbox, the logs and the traces."""

import json

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.common.logs import _mask_personal_data
from services.common.privacy import masked_contact, masked_event_data, masked_summary, scrub_text
from services.common.telemetry import WithoutTrackingTokens


def test_phone_numbers_written_with_dots_or_inside_a_handle_are_masked():
    assert scrub_text("call 138.1234.5678 after six") == "call 138****5678 after six"
    assert scrub_text("加我微信 wx_13812345678") == "加我微信 wx_138****5678"
    assert scrub_text("total 12.50 yuan on 2026-11-23") == "total 12.50 yuan on 2026-11-23"


def test_an_ip_address_keeps_its_network_and_is_not_taken_for_a_phone():
    """A client's address in an access log read '******:54321' or '102****3040', a phone-shaped mask."""
    assert scrub_text("10.20.30.40:54321 - GET /console") == "10.20.30.*:54321 - GET /console"
    assert scrub_text("我的IP是192.168.1.10，路由器 1.2.3.4.") == "我的IP是192.168.1.*，路由器 1.2.3.*."
    assert scrub_text("call 138.1234.5678.") == "call 138****5678."


def test_the_numbers_staff_work_with_are_left_readable():
    """An order's or a parcel's number, an amount and a dotted date are what a handler looks up;
    masked as phones they read as somebody's number ('026****0001') and the complaint cannot be
    worked."""
    for text in (
        "订单号 202611240001 重复扣款",  # 12 digits: too long for a number without its prefix
        "运单 773012345678901 三天没动",
        "多扣了 1234567.89 元",
        "退款 1500000 元",
        "paid ¥1280000 twice",
        "投诉于 2026.11.24 提交, build 2026.11.24.1",
        "卡号 4111111111111112",  # 16 digits that fail a card's check digit: an order number
    ):
        assert scrub_text(text) == text


def test_personal_numbers_are_masked_for_what_they_are():
    assert scrub_text("身份证 11010119900307123X 丢了") == "身份证 110101********123X 丢了"
    assert scrub_text("身份证号110101199003071234。") == "身份证号110101********1234。"
    assert scrub_text("卡号 4111 1111 1111 1111 被扣") == "卡号 4111********1111 被扣"
    assert scrub_text("打 8613812345678 或 0086 13912345678") == "打 138****5678 或 139****5678"
    assert scrub_text("座机 0755-12345678") == "座机 755****5678"
    assert scrub_text("13812345678 13912345678 都行") == "138****5678 139****5678 都行"
    # Side by side, each is told apart on its own: a date or an order kept, the phone beside it masked.
    assert scrub_text("2026.11.24 13812345678 联系我") == "2026.11.24 138****5678 联系我"
    assert scrub_text("订单 202611240001 13812345678") == "订单 202611240001 138****5678"
    assert scrub_text("0086 18883093495 202611240001") == "188****3495 202611240001"
    assert scrub_text("2026.11.24 130 0000 0000") == "2026.11.24 130****0000"
    assert scrub_text("手机13372206605元") == "手机133****6605元"  # a currency word after a mobile keeps no mobile
    assert scrub_text("+86 138 1234 5678") == "138****5678"


BEFORE = st.sampled_from(["", " ", "请打", "电话：", "tel: ", "（", "wx_", "\n", "2026.11.24 ", "订单 202611240001 "])
AFTER = st.sampled_from(["", " ", "联系我", "。", "）", ", ", "\n", " 或 13900001111", " 202611240001", "元"])
MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(BEFORE, MOBILE, st.sampled_from(["{}", "{0}-{1}-{2}", "{0} {1} {2}", "{0}.{1}.{2}", "+86 {}", "0086 {}"]), AFTER)
def test_a_mobile_number_is_masked_however_it_is_written_and_whatever_is_around_it(before, mobile, form, after):
    written = form.format(mobile[:3], mobile[3:7], mobile[7:]) if "{0}" in form else form.format(mobile)
    scrubbed = scrub_text(before + written + after)
    assert mobile not in scrubbed and written not in scrubbed
    assert f"{mobile[:3]}****{mobile[-4:]}" in scrubbed  # shown masked, not swallowed by what is beside it


def luhn_sum(number: str) -> int:
    """Every second digit from the right doubled (less 9 past 9), all summed: a card's check."""
    return sum(d if i % 2 == 0 else (2 * d - 9 if d > 4 else 2 * d) for i, d in enumerate(map(int, reversed(number))))


@given(st.sampled_from(["订单号 ", "单号：", "order ", "运单 "]), st.from_regex(r"[1-9][0-9]{11,15}", fullmatch=True))
def test_an_order_number_is_kept_unless_it_is_a_phone_with_its_country_code(before, number):
    scrubbed = scrub_text(f"{before}{number} 重复扣款")
    is_card = 16 <= len(number) <= 19 and luhn_sum(number) % 10 == 0
    is_phone = number.startswith("86") and len(number) == 13 and number[2] == "1" and number[3] in "3456789"
    assert (number in scrubbed) == (not is_card and not is_phone)


def test_complaint_ids_whose_hex_part_is_all_digits_are_left_alone():
    assert scrub_text("see 20261124-12346579 and 20261122-9F3A1B2C") == "see 20261124-12346579 and 20261122-9F3A1B2C"
    logged = _mask_personal_data(
        None,
        "info",
        {"complaint_id": "20261124-12346579", "idempotency_key": "13812345678", "event": "call 13812345678"},
    )
    assert logged == {
        "complaint_id": "20261124-12346579",
        "idempotency_key": "13812345678",
        "event": "call 138****5678",
    }


def test_a_phone_typed_into_any_field_people_write_is_masked_in_the_feed():
    received = {
        "customer": {"name": "王芳 13812345678", "company": "李记 tel 13912345678", "phone": "13812345678"},
        "recorded_by": "agent-3 (13712345678)",
        "channel_tags": ["urgent", "wx_13612345678"],
        "attachments": [{"filename": "13512345678 receipt.jpg", "content_type": "image/jpeg"}],
        "decided_by": [{"reason": "mentions '13412345678'", "reason_zh": "提到“13312345678”"}],
        "answer": "her second line 13212345678 was charged",  # a consulted department's answer
    }
    masked = json.dumps(masked_event_data(received), ensure_ascii=False)
    for number in (
        "13812345678",
        "13912345678",
        "13712345678",
        "13612345678",
        "13512345678",
        "13412345678",
        "13312345678",
        "13212345678",
    ):
        assert number not in masked
    assert "urgent" in masked and "image/jpeg" in masked


def test_logging_still_masks_contact_fields():
    logged = _mask_personal_data(None, "info", {"recipient_address": "wang.fang@example.com"})
    assert logged == {"recipient_address": "w***@example.com"}


def test_tracking_tokens_never_leave_in_a_span_even_when_set_after_the_span_started():
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(WithoutTrackingTokens(exported)))
    secret = "Zq3x-secret-token_abc"
    with provider.get_tracer("test").start_as_current_span(f"GET /track/{secret}") as span:
        # as the ASGI instrumentation does: the URL attributes are set again once the span runs
        span.set_attributes(
            {
                "http.target": f"/v1/track/{secret}?x=1",
                "http.url": f"http://h/track/{secret}/survey",
                "http.method": "GET",
                "http.status_code": 200,
            }
        )
    (finished,) = exported.get_finished_spans()
    assert secret not in json.dumps({"name": finished.name, **dict(finished.attributes)})
    assert finished.name == "GET /track/{token}"
    assert finished.attributes["http.target"] == "/v1/track/{token}?x=1"
    assert finished.attributes["http.url"] == "http://h/track/{token}/survey"
    assert finished.attributes["http.status_code"] == 200 and finished.context == span.get_span_context()


def test_a_list_shows_the_phone_else_the_email_masked_and_the_words_on_one_line_masked_and_short():
    assert masked_contact({"phone": "+86 138-1234-5678", "email": "wang.fang@example.com"}) == "138****5678"
    assert masked_contact({"phone": None, "email": "wang.fang@example.com"}) == "w***@example.com"
    assert masked_contact({"name": "王芳"}) is None
    summary = masked_summary("重复扣款", "请打\n13812345678  联系我" + "。" * 300)
    assert summary.startswith("重复扣款 请打 138****5678 联系我。") and len(summary) == 160
