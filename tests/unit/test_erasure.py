"""The erasure rule (services/common/erasure.py): the customer and their words go from every
kind of record; what happened, when and by whom stays."""

import json
from datetime import UTC, datetime

from services.common.erasure import ERASED, Identity, erase_data, erase_event, erase_message_request
from services.workflow.contract import Channel, ComplaintInput, Customer

CUSTOMER = {"name": "欧阳娜娜", "phone": "+86 139-2222-3333", "email": "nana.ouyang@example.com",
            "account_id": "ACC-778899", "company": "娜娜贸易", "segment": "vip", "language": "zh-CN"}  # fmt: skip
TRACES = ["欧阳娜娜", "13922223333", "139-2222-3333", "nana.ouyang@example.com", "ACC-778899", "娜娜贸易"]


def _text(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_a_submission_keeps_its_classification_and_times_and_loses_the_customer():
    record = ComplaintInput(
        complaint_id="20261130-0A1B2C3D", channel=Channel.hotline, received_at=datetime(2026, 11, 30, 9, tzinfo=UTC),
        customer=Customer(**CUSTOMER), description="我是欧阳娜娜，电话13922223333，退款三次都没到账",
        demand="退款", subject="退款", status_url="https://intake.example/v1/track/secret-token",
        channel_tags=["ivr:2", "caller:13922223333"], recorded_by="agent-12",
    ).model_dump(mode="json")  # fmt: skip
    erased = erase_data(record, Identity.of(record["customer"]))

    assert not any(trace in _text(erased) for trace in TRACES), _text(erased)
    assert "secret-token" not in _text(erased) and erased["status_url"] is None
    assert erased["description"] == ERASED and erased["demand"] == ERASED and erased["channel_tags"] == []
    # What the complaint was and how it was handled stays, and it still reads as a record.
    assert (erased["complaint_id"], erased["received_at"], erased["recorded_by"]) == (
        record["complaint_id"], record["received_at"], "agent-12")  # fmt: skip
    assert erased["customer"] == {"name": ERASED, "erased": True, "segment": "vip", "language": "zh-CN",
                                  "preferred_channel": None, "time_zone": None}  # fmt: skip


def test_staff_texts_stay_without_the_customer_in_them():
    identity = Identity.of(CUSTOMER)
    note = erase_event("NoteAdded", {"staff_id": "li.na", "text": "欧阳娜娜 called from 139 2222 3333 again; "
                                     "wrote from NANA.OUYANG@example.com; order 20261130001"}, identity)  # fmt: skip
    assert note["staff_id"] == "li.na"
    assert note["text"].startswith(f"{ERASED} called from {ERASED} again; wrote from {ERASED}")
    resolved = erase_event("Resolved", {"staff_id": "li.na", "cause": "double charge for 欧阳娜娜",
                                        "measures_taken": "refunded to ACC-778899"}, identity)  # fmt: skip
    assert resolved == {"staff_id": "li.na", "cause": f"double charge for {ERASED}",
                        "measures_taken": f"refunded to {ERASED}"}  # fmt: skip


def test_the_customers_own_words_go_whole_and_ids_and_times_stay():
    identity = Identity.of(CUSTOMER)
    reply = erase_event("CustomerReplied", {"message": "my card ends 4455", "at": "2026-11-30T10:00:00+00:00"},
                        identity)  # fmt: skip
    assert reply == {"message": ERASED, "at": "2026-11-30T10:00:00+00:00"}
    survey = erase_event("SurveyAnswered", {"satisfaction_result": 2, "suggestion": "too slow"}, identity)
    assert survey == {"satisfaction_result": 2, "suggestion": ERASED}
    tiered = {"tier": 1, "rule": "safety", "deadlines": {"resolution": "2026-11-30T17:00:00+00:00"}}
    assert erase_event("TierAssigned", tiered, identity) == tiered


def test_a_message_to_the_customer_loses_its_addresses_and_a_staff_alert_keeps_its_recipient():
    identity = Identity.of(CUSTOMER)
    to_customer = {"complaint_id": "C-1", "template": "feedback", "channel": "email", "recipient_name": "欧阳娜娜",
                   "recipient_address": "nana.ouyang@example.com",
                   "fallbacks": [{"channel": "sms", "address": "13922223333"}],
                   "variables": {"status_url": "https://x/track/tok",
                                 "resolution": {"cause": "欧阳娜娜's card"}}}  # fmt: skip
    erased = erase_message_request(to_customer, identity)
    assert not any(trace in _text(erased) for trace in TRACES)
    assert erased["fallbacks"] == [] and erased["variables"]["status_url"] is None
    assert erased["template"] == "feedback" and erased["channel"] == "email"

    alert = {"channel": "internal", "template": "breach", "recipient_name": "Li Na", "recipient_address": "staff:li.na",
             "variables": {"summary": "欧阳娜娜: refund missing"}}  # fmt: skip
    erased = erase_message_request(alert, identity)
    assert erased["recipient_address"] == "staff:li.na" and erased["recipient_name"] == "Li Na"
    assert erased["variables"]["summary"] == f"{ERASED}: refund missing"


def test_erasing_twice_is_erasing_once():
    record = {"customer": CUSTOMER, "description": "欧阳娜娜 13922223333", "note": "call 欧阳娜娜"}
    once = erase_data(record, Identity.of(CUSTOMER))
    assert erase_data(once, Identity.of(once["customer"])) == once
