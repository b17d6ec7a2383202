"""Channel adapters: each turns a channel's own format into the complaint record
(`ComplaintSubmission`), keeping the channel's own id as the external reference so that a
redelivery is recognised. Pure functions; the API wires them to endpoints. E-mail, whose
messages come in every form, has a module of its own: `mail_adapter`."""

from typing import Literal

from pydantic import AwareDatetime, EmailStr, Field, ValidationError

from services.intake.submissions import ComplaintSubmission
from services.workflow.contract import Channel, Customer, MessagingAddress, Text


class AdapterError(ValueError):
    """The channel's message cannot become a complaint; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


# ---------------------------------------------------------------- call centre (IVR)


class CallCentreEvent(Text):
    """What the call-centre system posts when an agent closes the complaint form of a call."""

    call_id: str = Field(min_length=1, max_length=200)
    caller_number: str = Field(pattern=r"^\+?[0-9][0-9 -]{5,19}[0-9]$")
    caller_name: str | None = Field(default=None, max_length=200)
    ivr_tags: list[str] = Field(default=[], description="keys pressed, e.g. ['complaint', 'urgent']")
    agent_id: str | None = Field(default=None, max_length=100)
    notes: str = Field(min_length=1, max_length=10_000, description="what the customer said")
    demand: str | None = Field(default=None, max_length=2000)
    started_at: AwareDatetime


def from_call_centre(event: CallCentreEvent) -> ComplaintSubmission:
    tags = {t.lower() for t in event.ivr_tags}
    return ComplaintSubmission(
        channel=Channel.hotline,
        customer=Customer(name=event.caller_name or "caller", phone=event.caller_number, preferred_channel="sms"),
        description=event.notes,
        demand=event.demand,
        urgency_hint="high" if tags & {"urgent", "emergency", "safety"} else None,
        external_ref=event.call_id,
        recorded_by=event.agent_id,
        channel_tags=sorted(tags),
    )


# ---------------------------------------------------------------- app, chat groups, social media


class WebhookAuthor(Text):
    name: str = Field(min_length=1, max_length=200)
    handle: str | None = Field(default=None, max_length=200)
    phone: str | None = None
    email: EmailStr | None = None


class WebhookEvent(Text):
    event_id: str = Field(min_length=1, max_length=200, description="the source's id of this post or message")
    author: WebhookAuthor
    platform: Literal["wechat", "dingtalk"] | None = Field(
        default=None, description="a chat group's platform: its gateway messages the author by their handle"
    )
    text: str = Field(min_length=1, max_length=10_000)
    created_at: AwareDatetime | None = None
    url: str | None = Field(default=None, max_length=2000)


WEBHOOK_SOURCES: dict[str, Channel] = {
    "app": Channel.app,
    "chat-group": Channel.chat_group,
    "social-media": Channel.social_media,
}
WebhookSource = Literal["app", "chat-group", "social-media"]


def from_webhook(source: WebhookSource, event: WebhookEvent) -> ComplaintSubmission:
    messaging = _messaging_of(source, event)
    if not event.author.phone and not event.author.email and messaging is None:
        raise AdapterError(
            "author",
            "give the author's phone or email, or their handle in the app or a chat group's platform, "
            "so that we can answer them",
        )
    text = event.text + (f"\n\n{event.url}" if event.url else "")
    customer = Customer(name=event.author.name, phone=event.author.phone, email=event.author.email, messaging=messaging)
    return ComplaintSubmission(
        channel=WEBHOOK_SOURCES[source],
        customer=customer,
        description=text[:10_000],
        occurred_at=event.created_at,
        external_ref=event.event_id,
        # A public handle is kept as a tag; an account we message them on is the customer's contact.
        channel_tags=[f"handle:{event.author.handle}"] if event.author.handle and messaging is None else [],
    )


def _messaging_of(source: WebhookSource, event: WebhookEvent) -> MessagingAddress | None:
    """Where the author can be answered where they wrote: the app's user, or a chat group
    member on its platform. A social media post has no such address: it is public."""
    handle = event.author.handle
    channel = "app" if source == "app" else event.platform if source == "chat-group" else None
    if not handle or channel is None:
        return None
    try:
        return MessagingAddress(channel=channel, address=handle)
    except ValidationError as exc:
        raise AdapterError("author.handle", f"not an account we can message: {exc.errors()[0]['msg']}") from exc
