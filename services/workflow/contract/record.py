"""The complaint's record: what a channel tells us and what intake decides before the
workflow starts (domain §2, §4). Shared by intake (which builds it) and the workflow (which
starts with it)."""

import re
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, EmailStr, Field, field_validator, model_validator


class Channel(StrEnum):
    hotline = "hotline"
    email = "email"
    web_form = "web_form"
    app = "app"
    chat_group = "chat_group"
    social_media = "social_media"
    store = "store"


_HAN = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


class Text(BaseModel):
    """Base of every model that carries people's text: refuses what PostgreSQL and UTF-8 cannot
    store (NUL, lone surrogates), so bad input is a 422 naming the field, never a stuck append."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value):
        _check_storable(value)
        return value


def _check_storable(value) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError("must be valid Unicode text") from exc
    elif isinstance(value, list | tuple):
        for item in value:
            _check_storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)


Segment = Literal["vip", "standard"]
# Channels whose gateway can message a customer on the account they complained from.
MessagingChannel = Literal["app", "wechat", "dingtalk"]


class MessagingAddress(Text):
    """The customer's account on the channel they complained on (the app's user id, a WeChat or
    DingTalk id): that channel's gateway can message them there (app push, a direct message)."""

    channel: MessagingChannel
    # As notify takes a recipient's address (3 characters or more): shorter, every message to
    # the customer would fail its workflow task.
    address: str = Field(min_length=3, max_length=200)


class Customer(Text):
    name: str = Field(min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{5,19}[0-9]$")
    email: EmailStr | None = None
    preferred_channel: Literal["email", "sms"] | None = None
    messaging: MessagingAddress | None = Field(
        default=None, description="their account on the channel they complained on, to message them there"
    )
    company: str | None = Field(default=None, max_length=200)
    account_id: str | None = Field(default=None, max_length=100, description="the customer's account with us")
    segment: Segment | None = Field(default=None, description="customer value segment; vip takes the green channel")
    language: Literal["zh-CN", "en"] | None = Field(
        default=None, description="the language we write to them in; unset: the language of their complaint"
    )
    time_zone: str | None = Field(
        default=None, max_length=64, description="IANA zone for the times we write them; unset: the organisation's"
    )

    @field_validator("phone", mode="before")
    @classmethod
    def _written_as_people_write_it(cls, phone: object) -> object:
        """Brackets and dots as people and call-centre systems write a number ("+86 (10)
        1234.5678") separate its digits as spaces do."""
        if isinstance(phone, str):
            return " ".join(re.sub(r"[().]", " ", phone).split())
        return phone

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone '{zone}'") from exc
        return zone

    @model_validator(mode="after")
    def _reachable(self) -> "Customer":
        if not self.phone and not self.email and not self.messaging:
            raise ValueError("give a phone or an email so that we can answer the customer")
        if self.preferred_channel == "email" and not self.email:
            raise ValueError("preferred_channel is email but no email is given")
        if self.preferred_channel == "sms" and not self.phone:
            raise ValueError("preferred_channel is sms but no phone is given")
        return self

    def reply_channel(self) -> tuple[str, str]:
        """(channel, address) to answer on: the preferred one, else e-mail, else SMS."""
        return self.reply_channels()[0]

    def reply_channels(self) -> list[tuple[str, str]]:
        """Every (channel, address) we can reach them on, the one to try first first: the one
        they chose; else the account they complained from (where they read), e-mail, SMS."""
        reachable = [("email", str(self.email)) if self.email else None, ("sms", self.phone) if self.phone else None]
        channels = [c for c in reachable if c is not None]
        if self.preferred_channel == "sms" or not self.email:
            channels.reverse()
        if self.messaging is None:
            return channels
        where = (self.messaging.channel, self.messaging.address)
        return [*channels, where] if self.preferred_channel else [where, *channels]


class Attachment(Text):
    """An attachment as the channel delivered it: listed in the record, never dropped silently."""

    filename: str = Field(max_length=500)
    content_type: str = Field(max_length=200)
    size_bytes: int = Field(ge=0)


# ---------------------------------------------------------------- classification (domain §2, §4)

ComplaintType = Literal["product_fault", "service_attitude", "process_problem", "other"]
Urgency = Literal["high", "medium", "low"]
Responsibility = Literal["tech_support", "product", "rnd", "third_party", "customer_error", "undetermined"]
Scope = Literal["single_customer", "group"]
Difficulty = Literal["front_line", "cross_department"]
CLASSIFIED_FIELDS = ("tier", "complaint_type", "urgency", "responsibility", "scope", "difficulty")


class FieldDecision(BaseModel):
    """Which rule decided one classification field, and why (shown to staff, kept in the events)."""

    field: str
    value: str | int
    rule: str
    reason: str
    reason_zh: str | None = None  # the same in Chinese, for the console (staff's own words have none)


class Classification(BaseModel):
    tier: int = Field(ge=1, le=3)
    complaint_type: ComplaintType
    urgency: Urgency
    responsibility: Responsibility
    scope: Scope
    difficulty: Difficulty
    decided_by: list[FieldDecision] = []
    rules_version: str = ""
    cause: str | None = None  # the most specific rule that matched: complaints sharing it may be one batch
    # No rule recognised it and no labelled example is alike: its urgency is the default
    # (medium, never routine) until staff confirm or correct it.
    needs_review: bool = False

    def decision(self, field: str) -> FieldDecision | None:
        return next((d for d in self.decided_by if d.field == field), None)


class ComplaintRecord(Text):
    """The complaint as the customer gave it: what a channel adapter submits (intake's
    submission) and what the workflow starts with (`ComplaintInput`, with intake's decisions)."""

    channel: Channel
    customer: Customer
    description: str = Field(min_length=1, max_length=10_000, description="the problem in the customer's words")
    occurred_at: AwareDatetime | None = Field(
        default=None, description="when it happened (to the minute), with time zone"
    )
    scenario: str | None = Field(default=None, max_length=2000, description="where and while doing what")
    symptom: str | None = Field(default=None, max_length=2000, description="what went wrong, as observed")
    impact: str | None = Field(default=None, max_length=2000, description='e.g. "3 orders could not be submitted"')
    demand: str | None = Field(default=None, max_length=2000, description="what the customer expects")
    urgency_hint: Literal["high", "medium", "low"] | None = Field(
        default=None, description="the channel's own urgency signal (IVR key, form box)"
    )
    external_ref: str | None = Field(
        default=None, max_length=200, description="the channel's own id; the same id twice is the same complaint"
    )
    subject: str | None = Field(default=None, max_length=500)
    attachments: list[Attachment] = Field(default=[], max_length=100)
    recorded_by: str | None = Field(default=None, max_length=100, description="the agent who took it down")

    def language(self) -> Literal["zh-CN", "en"]:
        """The language to write to the customer in: theirs if they said, else the one they
        complained in (the description, then their name), else Chinese on China's chat and
        social channels and English elsewhere."""
        if self.customer.language:
            return self.customer.language
        for text in (self.description, self.subject or "", self.customer.name):
            if _HAN.search(text):
                return "zh-CN"
            if _LATIN_WORD.search(text):
                return "en"
        return "zh-CN" if self.channel in (Channel.chat_group, Channel.social_media) else "en"

    channel_tags: list[str] = Field(default=[], max_length=20, description="IVR keys, handles, source hints")


class ComplaintInput(ComplaintRecord):
    """What the workflow starts with: the accepted submission, as intake stored it."""

    complaint_id: str
    received_at: AwareDatetime
    status_url: str | None = None
    policy: str = "default"  # the SLA policy it starts under (services/workflow/policies/)
    # Decided by intake (absent in complaints accepted before intake classified them):
    classification: Classification | None = None
    earlier_complaints: list[str] = []  # the same customer's earlier complaint ids, newest first
    overflow: bool = False  # accepted during an intake surge: routed to the standby group
