"""Channel adapters: each channel's own format becomes the complaint record, nothing dropped."""

from datetime import UTC, datetime

import pytest

from services.intake.adapters import (
    AdapterError,
    CallCentreEvent,
    WebhookAuthor,
    WebhookEvent,
    from_call_centre,
    from_webhook,
)
from services.workflow.contract import Channel
from services.workflow.legacy import assign_tier


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


def test_an_app_user_or_a_chat_group_member_is_answered_where_they_wrote():
    author = WebhookAuthor(name="小李", handle="u-20881234")
    event = WebhookEvent(event_id="app-77", author=author, text="下单后一直显示支付中")
    in_the_app = from_webhook("app", event).customer
    assert in_the_app.messaging is not None and in_the_app.reply_channels() == [("app", "u-20881234")]
    in_the_group = from_webhook("chat-group", event.model_copy(update={"platform": "wechat"})).customer
    assert in_the_group.reply_channels() == [("wechat", "u-20881234")]
    with pytest.raises(AdapterError):  # a chat group of no known platform: nowhere to answer
        from_webhook("chat-group", event)
    with pytest.raises(AdapterError):  # a public post: answered in private only by phone or e-mail
        from_webhook("social-media", event)
    # Shorter than notify takes an address: refused at the door, naming the handle, not a workflow
    # task failing on every message to the customer (schemathesis found '¾').
    with pytest.raises(AdapterError) as too_short:
        from_webhook("app", event.model_copy(update={"author": WebhookAuthor(name="小李", handle="¾")}))
    assert too_short.value.field == "author.handle"
