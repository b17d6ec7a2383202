"""Masking gaps found by a hostile read of the feed, the inbox, the logs and the traces."""

import json


from services.common.logs import _mask_personal_data
from services.common.privacy import masked_event_data, scrub_text


def test_phone_numbers_written_with_dots_or_inside_a_handle_are_masked():
    assert scrub_text("call 138.1234.5678 after six") == "call 138****5678 after six"
    assert scrub_text("加我微信 wx_13812345678") == "加我微信 wx_138****5678"
    assert scrub_text("total 12.50 yuan on 2026-11-23") == "total 12.50 yuan on 2026-11-23"


def test_complaint_ids_whose_hex_part_is_all_digits_are_left_alone():
    assert scrub_text("see 20261124-12346579 and 20261122-9F3A1B2C") == "see 20261124-12346579 and 20261122-9F3A1B2C"
    logged = _mask_personal_data(None, "info", {"complaint_id": "20261124-12346579", "idempotency_key": "13812345678",
                                                "event": "call 13812345678"})
    assert logged == {"complaint_id": "20261124-12346579", "idempotency_key": "13812345678",
                      "event": "call 138****5678"}


def test_a_phone_typed_into_any_field_people_write_is_masked_in_the_feed():
    received = {"customer": {"name": "王芳 13812345678", "company": "李记 tel 13912345678", "phone": "13812345678"},
                "recorded_by": "agent-3 (13712345678)", "channel_tags": ["urgent", "wx_13612345678"],
                "attachments": [{"filename": "13512345678 receipt.jpg", "content_type": "image/jpeg"}]}
    masked = json.dumps(masked_event_data(received), ensure_ascii=False)
    for number in ("13812345678", "13912345678", "13712345678", "13612345678", "13512345678"):
        assert number not in masked
    assert "urgent" in masked and "image/jpeg" in masked


def test_logging_still_masks_contact_fields():
    logged = _mask_personal_data(None, "info", {"recipient_address": "wang.fang@example.com"})
    assert logged == {"recipient_address": "w***@example.com"}
