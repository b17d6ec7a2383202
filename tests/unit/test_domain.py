"""The pure parts: tier rules, the stage machine, the record's validation, masking."""

import sys

import pytest
from pydantic import ValidationError

from services.common.erasure import Identity, erase_customer
from services.common.privacy import (
    mask_contact,
    mask_email,
    mask_phone,
    masked_contact,
    masked_event_data,
    scrub_text,
)
from services.workflow.contract import Customer, MessagingAddress, Stage
from services.workflow.legacy import assign_tier
from services.workflow.stages import ALLOWED_IN, Action, ActionNotAllowed, ensure_allowed


@pytest.mark.parametrize(
    ("description", "hint", "tier", "rule"),
    [
        ("The heater caught fire and my son was injured", None, 1, "safety-or-injury"),
        ("店里地板太滑，我摔倒受伤了", None, 1, "safety-or-injury"),
        ("Your payment system down since this morning, we cannot pay at all", None, 1, "payment-system-down"),
        ("I was charged twice for one ticket", None, 2, "money-lost"),
        ("订单显示已付款但被多扣了50元", None, 2, "money-lost"),
        ("My order has not arrived after ten days", None, 2, "order-anomaly"),
        ("The agent on the phone was rude to me", None, 3, "routine-default"),
        ("How do I change my password?", None, 3, "routine-default"),
        ("How do I change my password?", "high", 1, "urgency-hint"),
    ],
)
def test_tier_rules_pick_the_first_matching_rule(description, hint, tier, rule):
    decision = assign_tier(description, hint)
    assert (decision.tier, decision.rule) == (tier, rule)
    assert decision.reason


def test_keywords_match_case_insensitively():
    assert assign_tier("REFUND NOW").tier == 2


@pytest.mark.parametrize("action", list(Action))
def test_each_action_is_allowed_exactly_in_its_stages(action):
    assert {stage for stage in Stage if _allowed(stage, action)} == ALLOWED_IN[action]


def test_nothing_is_allowed_on_a_closed_complaint_and_staff_cannot_skip_acknowledging():
    assert not [a for a in Action if _allowed(Stage.closed, a)]
    assert not _allowed(Stage.assigned, Action.resolve)
    assert not _allowed(Stage.assigned, Action.post_progress)
    assert _allowed(Stage.waiting_on_customer, Action.resolve)  # the customer may never answer


def _allowed(stage: Stage, action: Action) -> bool:
    try:
        ensure_allowed(stage, action)
    except ActionNotAllowed:
        return False
    return True


def test_refusal_names_the_current_and_the_needed_stage():
    with pytest.raises(
        ActionNotAllowed,
        match="cannot resolve a complaint that is assigned; only when it is acknowledged or waiting on customer",
    ):
        ensure_allowed(Stage.assigned, Action.resolve)


def test_customer_needs_a_way_to_be_reached():
    with pytest.raises(ValidationError, match="phone or an email"):
        Customer(name="Li Lei")
    with pytest.raises(ValidationError, match="preferred_channel is email"):
        Customer(name="Li Lei", phone="13812341234", preferred_channel="email")
    with pytest.raises(ValidationError):
        Customer(name="Li Lei", phone="call me maybe")


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("+86 (10) 1234 5678", "+86 10 1234 5678"),  # as a call-centre system writes a caller's number
        ("138.1234.5678", "138 1234 5678"),
        ("010-12345678", "010-12345678"),
        ("13812341234", "13812341234"),
    ],
)
def test_a_phone_number_is_taken_as_people_write_it(written, kept):
    assert Customer(name="Li Lei", phone=written).phone == kept


def test_reply_channel_prefers_the_customers_choice_then_email():
    both = dict(name="Li", phone="13812341234", email="li@example.com")
    assert Customer(**both).reply_channel() == ("email", "li@example.com")
    assert Customer(**both, preferred_channel="sms").reply_channel() == ("sms", "13812341234")
    assert Customer(name="Li", phone="13812341234").reply_channel() == ("sms", "13812341234")


def test_a_customer_from_the_app_is_answered_there_first_unless_they_chose_otherwise():
    app = MessagingAddress(channel="app", address="u-20881234")
    only_there = Customer(name="Li", messaging=app)  # reachable: no phone or e-mail needed
    with pytest.raises(ValidationError):  # shorter than notify takes an address
        MessagingAddress(channel="app", address="¾")
    assert only_there.reply_channels() == [("app", "u-20881234")]
    both = dict(name="Li", phone="13812341234", email="li@example.com", messaging=app)
    assert Customer(**both).reply_channels() == [
        ("app", "u-20881234"),
        ("email", "li@example.com"),
        ("sms", "13812341234"),
    ]
    chose_sms = Customer(**both, preferred_channel="sms").reply_channels()
    assert chose_sms == [("sms", "13812341234"), ("email", "li@example.com"), ("app", "u-20881234")]
    assert mask_contact("u-20881234") == "u-***" and mask_contact("wxid_li") == "wx***"
    assert mask_contact("+86 138-1234-1234") == "138****1234" and mask_contact("li@example.com") == "l***@example.com"
    assert masked_contact(only_there.model_dump(mode="json")) == "u-***"
    received = {"customer": only_there.model_dump(mode="json")}
    assert masked_event_data(received)["customer"]["messaging"] == {"channel": "app", "address": "u-***"}
    erased = erase_customer(Customer(**both).model_dump(mode="json"))
    assert "messaging" not in erased and "u-20881234" not in str(erased)
    assert (
        Identity.of(Customer(**both).model_dump(mode="json")).remove_from("user u-20881234 says")
        == "user [erased] says"
    )


def test_masking_of_contact_data():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("+86 138-1234-1234") == "138****1234"
    assert mask_email("zhang.san@example.com") == "z***@example.com"
    text = "call 13812341234 or write to zhang.san@example.com, order 42"
    assert scrub_text(text) == "call 138****1234 or write to z***@example.com, order 42"
    assert scrub_text("请打13812341234联系我") == "请打138****1234联系我"  # no spaces in Chinese text
    # complaint ids, dates and times are not phone numbers (logs must keep them to trace a complaint)
    for kept in ("complaint 20261122-9F3A1B2C started", "on 2026-11-23 at 10", "2026-11-23T09:25:02.089794Z"):
        assert scrub_text(kept) == kept


def test_log_lines_mask_contact_data_and_keep_ids_and_times(capsys):
    import json
    import logging

    from services.common.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("test")
        logging.getLogger("test").warning(
            "SMS to 13812341234 failed", extra={"complaint_id": "20261122-9F3A1B2C", "phone": "13812341234"}
        )
    finally:
        root.handlers[:], root.level = handlers, level  # pytest's own capture again
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "SMS to 138****1234 failed" and line["phone"] == "138****1234"
    assert line["complaint_id"] == "20261122-9F3A1B2C" and line["timestamp"].startswith("20")
    assert "*" not in line["timestamp"]


def test_a_service_does_not_log_each_outgoing_request(capsys):
    """The reports' projector reads the event feed twice a second: a line for each request buried
    the rest of its log."""
    import asyncio
    import logging

    import httpx

    from services.common.logs import configure_logging

    async def poll_twice() -> None:
        ok = httpx.MockTransport(lambda request: httpx.Response(200, json=[]))
        async with httpx.AsyncClient(transport=ok, base_url="http://workflow") as http:
            for _ in range(2):
                await http.get("/v1/events", params={"after": 4})

    root, httpx_log = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, httpx_level = root.handlers[:], root.level, httpx_log.level
    try:
        configure_logging("test")
        asyncio.run(poll_twice())
        httpx_log.warning("a warning still shows")
    finally:
        root.handlers[:], root.level = handlers, level
        httpx_log.setLevel(httpx_level)
    lines = capsys.readouterr().err.strip().splitlines()
    assert not [line for line in lines if "HTTP Request" in line], lines
    assert any("a warning still shows" in line for line in lines)


def test_every_line_names_its_service_and_uvicorns_lines_are_masked_json(capsys):
    """Logging is configured as the app is imported; requests are served in other tasks, whose
    lines named no service. uvicorn's own handler wrote plain text, a failed request's
    traceback unmasked."""
    import asyncio
    import contextvars
    import json
    import logging

    from services.common.logs import configure_logging

    uvicorn_log = logging.getLogger("uvicorn")
    root = logging.getLogger()
    saved = root.handlers[:], root.level, uvicorn_log.handlers[:], uvicorn_log.propagate
    plain = logging.StreamHandler()  # as uvicorn sets itself up before the app starts
    uvicorn_log.handlers[:], uvicorn_log.propagate = [plain], False
    try:
        configure_logging("intake")

        async def serve_a_request() -> None:
            logging.getLogger("services.intake").info("form from 13812341234 refused")

        contextvars.Context().run(asyncio.run, serve_a_request())  # a context the lifespan never saw
        logging.getLogger("uvicorn.error").error(
            "Exception in ASGI application: phone 13812341234",
            extra={"color_message": "\x1b[1mException\x1b[0m in ASGI application"},
        )
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        uvicorn_log.handlers[:], uvicorn_log.propagate = saved[2], saved[3]
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [(line["service"], line["event"]) for line in lines] == [
        ("intake", "form from 138****1234 refused"),
        ("intake", "Exception in ASGI application: phone 138****1234"),
    ]
    assert "color_message" not in lines[1]  # no copy with a terminal's colour codes


def test_log_lines_go_to_stderr_as_it_is_when_written(monkeypatch):
    """Logs are configured when a service's app is imported; what imports it (a test runner)
    may swap stderr and close the stream it had: the exit handlers' last lines failed with
    "I/O operation on closed file"."""
    import io
    import json
    import logging

    from services.common.logs import configure_logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    first, later = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr(sys, "stderr", first)
        configure_logging("test")
        monkeypatch.setattr(sys, "stderr", later)
        first.close()
        logging.getLogger("test").warning("written after the swap")
    finally:
        root.handlers[:], root.level = handlers, level
    written = later.getvalue()
    assert "Logging error" not in written, written
    assert json.loads(written)["event"] == "written after the swap"


def test_text_that_postgresql_cannot_store_is_refused_with_its_field():
    from services.intake.submissions import ComplaintSubmission

    with pytest.raises(ValidationError) as nul:
        ComplaintSubmission(channel="app", customer={"name": "Li", "phone": "13812341234"}, description="a\x00b")
    assert nul.value.errors()[0]["loc"] == ("description",)
    with pytest.raises(ValidationError) as surrogate:
        Customer(name="\ud800", phone="13812341234")
    assert surrogate.value.errors()[0]["loc"] == ("name",)
    from services.intake.adapters import CallCentreEvent

    with pytest.raises(ValidationError) as in_list:
        CallCentreEvent(
            call_id="1",
            caller_number="13812341234",
            ivr_tags=["ok", "u\x00"],
            notes="n",
            started_at="2026-11-22T08:00:00+08:00",
        )
    assert in_list.value.errors()[0]["loc"] == ("ivr_tags",)


def test_event_data_leaving_the_service_masks_contact_fields_and_contact_typed_into_text():
    data = {
        "complaint_id": "20261122-9F3A1B2C",
        "received_at": "2026-11-22T09:30:00+08:00",
        "customer": {"name": "王芳", "phone": "13812345678", "email": "wang.fang@example.com"},
        "description": "请打 139 1234 5678 联系我",
        "repeats": [{"text": "or mail li@example.org"}],
        "note": None,
        "tier": 2,
    }
    masked = masked_event_data(data)
    assert masked["customer"] == {"name": "王芳", "phone": "138****5678", "email": "w***@example.com"}
    assert masked["description"] == "请打 139****5678 联系我"
    assert masked["repeats"] == [{"text": "or mail l***@example.org"}]
    # ids, times and numbers are not free text: a date is not a phone number
    assert {k: masked[k] for k in ("complaint_id", "received_at", "note", "tier")} == {
        "complaint_id": "20261122-9F3A1B2C",
        "received_at": "2026-11-22T09:30:00+08:00",
        "note": None,
        "tier": 2,
    }
