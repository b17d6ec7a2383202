"""Channel adapters: each channel's own format becomes the complaint record, nothing dropped."""

from datetime import UTC, datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from services.intake.adapters import (
    AdapterError,
    CallCentreEvent,
    WebhookAuthor,
    WebhookEvent,
    from_call_centre,
    from_email,
    from_webhook,
)
from services.workflow.contract import Channel
from services.workflow.legacy import assign_tier


def chinese_email(charset: str = "gbk") -> bytes:
    message = MIMEMultipart()
    message["From"] = f"{Header('王芳', charset).encode()} <wang.fang@example.com>"
    message["To"] = "complaints@shop.example"
    message["Subject"] = Header("订单被重复扣款", charset).encode()
    message["Message-ID"] = "<20261122.1234@mail.example.com>"
    message.attach(MIMEText("我的订单778被扣了两次款，请退款。", "plain", charset))
    receipt = MIMEApplication(b"%PDF-1.4 fake receipt", _subtype="pdf")
    receipt.add_header("Content-Disposition", "attachment", filename=("utf-8", "", "收据.pdf"))
    message.attach(receipt)
    return message.as_bytes()


@pytest.mark.parametrize("charset", ["gbk", "gb2312", "utf-8"])
def test_a_chinese_email_in_common_encodings_becomes_a_complaint(charset):
    submission = from_email(chinese_email(charset))
    assert submission.channel == Channel.email
    assert (submission.customer.name, submission.customer.email) == ("王芳", "wang.fang@example.com")
    assert submission.customer.preferred_channel == "email"
    assert submission.external_ref == "<20261122.1234@mail.example.com>"
    assert submission.subject == "订单被重复扣款"
    assert "扣了两次款" in submission.description
    assert [(a.filename, a.content_type) for a in submission.attachments] == [("收据.pdf", "application/pdf")]
    assert submission.attachments[0].size_bytes == len(b"%PDF-1.4 fake receipt")
    assert assign_tier(submission.description).tier == 2  # the rules read the decoded text


def test_a_traditional_chinese_big5_email():
    message = MIMEText("我的訂單被重複扣款", "plain", "big5")
    message["From"] = "Chen <chen@example.com.tw>"
    message["Subject"] = Header("重複扣款", "big5").encode()
    submission = from_email(message.as_bytes())
    assert submission.subject == "重複扣款" and "訂單" in submission.description


def test_an_html_only_email_is_read_as_text():
    message = MIMEText("<p>The staff was <b>rude</b> &amp; slow</p>", "html", "utf-8")
    message["From"] = "li@example.com"
    submission = from_email(message.as_bytes())
    assert "The staff was rude & slow" in submission.description
    assert submission.customer.name == "li" and submission.external_ref is None


def test_mail_without_a_sender_or_headers_is_refused_with_the_field():
    with pytest.raises(AdapterError) as no_sender:
        from_email(b"Subject: hi\n\nbody")
    assert no_sender.value.field == "From"
    with pytest.raises(AdapterError) as garbage:
        from_email(b"\xff\xfe not mail")
    assert garbage.value.field in ("body", "From")


def test_an_urgent_ivr_key_makes_the_call_urgent():
    event = CallCentreEvent(
        call_id="call-889",
        caller_number="13812345678",
        ivr_tags=["complaint", "URGENT"],
        agent_id="agent-12",
        notes="customer says the charger smells burnt",
        started_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    )
    submission = from_call_centre(event)
    assert (submission.channel, submission.urgency_hint, submission.external_ref) == (
        Channel.hotline,
        "high",
        "call-889",
    )
    assert submission.recorded_by == "agent-12" and submission.customer.phone == "13812345678"
    assert assign_tier(submission.description, submission.urgency_hint).tier == 1
    calm = from_call_centre(event.model_copy(update={"ivr_tags": ["complaint"]}))
    assert calm.urgency_hint is None


def test_webhooks_from_app_chat_and_social_media():
    event = WebhookEvent(
        event_id="weibo-5521",
        author=WebhookAuthor(name="小李", handle="@xiaoli", phone="13900001111"),
        text="门店服务太差",
        url="https://weibo.example/5521",
    )
    submission = from_webhook("social-media", event)
    assert submission.channel == Channel.social_media and submission.external_ref == "weibo-5521"
    assert "https://weibo.example/5521" in submission.description and submission.channel_tags == ["handle:@xiaoli"]
    assert from_webhook("chat-group", event).channel == Channel.chat_group
    with pytest.raises(AdapterError) as unreachable:
        from_webhook("app", event.model_copy(update={"author": WebhookAuthor(name="anon")}))
    assert unreachable.value.field == "author"
