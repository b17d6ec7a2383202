"""What a service sends notify: one notification request model for every sender (the
workflow's outbox, intake's staff alerts) and the bodies of notify's `POST /v1/notifications`
and of its batch form, and where a customer's e-mail answer finds its complaint (intake reads
it). Side-effect free, so senders import it instead of notify's implementation."""

import base64
import hashlib
import hmac
import re
import uuid
from datetime import datetime
from email.utils import parseaddr
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from services.common.settings import Settings

NOTIFICATIONS_PATH = "/v1/notifications"
ERASE_PATH = "/v1/erasures/{complaint_id}"  # the workflow service erases a customer's messages
MESSAGE_DOMAIN = "complaints.notify"


class ReplyAddresses:
    """Where a customer's answer to our e-mail finds its complaint: the thread every message
    names (In-Reply-To, References: `<complaint-<id>.<signature>@complaints.notify>`) and the
    complaint's own Reply-To (`care+<id>.<signature>@…`). The signature is an HMAC of the
    complaint id with a key only notify and intake hold, so only someone who received one of
    our messages can answer into a complaint: a guessed or enumerated id starts a complaint of
    its own. Without a key messages still thread in mail programs, and no answer is matched."""

    SIGNATURE_LENGTH = 16  # base32 digits: 80 bits, and the thread header fits on one line

    def __init__(self, template: str, key: bytes | None, previous_keys: tuple[bytes, ...] = ()) -> None:
        self.template = template  # `care+{complaint_id}@example.com`
        self.key = key  # signs; it and the previous keys (a rotation) are accepted
        self.accepted = (key, *previous_keys) if key else ()

    @classmethod
    def from_settings(cls, settings: Settings) -> "ReplyAddresses":
        key = settings.mail_reply_key.get_secret_value().encode() if settings.mail_reply_key else None
        previous = tuple(k.get_secret_value().encode() for k in settings.mail_reply_previous_keys)
        return cls(settings.mail_reply_to, key, previous)

    def thread_id(self, complaint_id: str) -> str:
        """The Message-ID every message about a complaint refers to: a customer's mail program
        threads them, and their reply names the complaint (In-Reply-To, References)."""
        return f"<complaint-{self._signed(complaint_id) or complaint_id}@{MESSAGE_DOMAIN}>"

    def reply_to(self, complaint_id: str) -> str | None:
        """The complaint's own address, None when answers cannot be matched (no key, no
        `{complaint_id}` in the template)."""
        signed = self._signed(complaint_id)
        if signed is None or "{complaint_id}" not in self.template:
            return None
        return self.template.format(complaint_id=signed)

    def complaint_of_thread(self, header: str) -> str | None:
        """The complaint a References or In-Reply-To header names by its signed thread, if any."""
        for found in _THREAD.finditer(header):
            if complaint_id := self._verified(found.group(1)):
                return complaint_id
        return None

    def complaint_of_address(self, address: str) -> str | None:
        """The complaint whose signed reply address this is; None for any other address."""
        if "{complaint_id}" not in self.template:
            return None
        before, _, after = self.template.partition("{complaint_id}")
        before, after = before.lower(), after.lower()
        mailbox = parseaddr(address)[1].lower()
        if mailbox.startswith(before) and mailbox.endswith(after) and len(mailbox) > len(before + after):
            return self._verified(mailbox[len(before) : len(mailbox) - len(after)])
        return None

    def _signature(self, complaint_id: str, key: bytes) -> str:
        mac = hmac.new(key, complaint_id.upper().encode(), hashlib.sha256).digest()
        return base64.b32encode(mac[: self.SIGNATURE_LENGTH * 5 // 8]).decode().lower()

    def _signed(self, complaint_id: str) -> str | None:
        return f"{complaint_id}.{self._signature(complaint_id, self.key)}" if self.key else None

    def _verified(self, signed: str) -> str | None:
        """The complaint id of `<id>.<signature>` when the signature is one of our keys' (mail
        systems may change the case of an address)."""
        complaint_id, dot, signature = signed.rpartition(".")
        if not dot or not complaint_id:
            return None
        given = signature.lower()
        if any(hmac.compare_digest(self._signature(complaint_id, key), given) for key in self.accepted):
            return complaint_id.upper()
        return None


_THREAD = re.compile(
    rf"<complaint-([0-9A-Za-z-]{{1,100}}\.[A-Za-z2-7]{{{ReplyAddresses.SIGNATURE_LENGTH}}})@{re.escape(MESSAGE_DOMAIN)}>"
)


def notification_message_id(notification_id: str | uuid.UUID) -> str:
    """The Message-ID of a notification's e-mail, the same on every attempt."""
    return f"<{notification_id}@{MESSAGE_DOMAIN}>"


_NOTIFICATION_MESSAGE_ID = re.compile(rf"<([0-9a-fA-F-]{{36}})@{re.escape(MESSAGE_DOMAIN)}>")


def notification_of_message_id(message_id: str) -> uuid.UUID | None:
    """The notification whose e-mail had this Message-ID; None for anyone else's message."""
    found = _NOTIFICATION_MESSAGE_ID.fullmatch(message_id.strip())
    try:
        return uuid.UUID(found.group(1)) if found else None
    except ValueError:
        return None


BOUNCES_PATH = "/v1/bounces"


class Bounce(BaseModel):
    """A mail server's report, read by intake from the e-mail channel, that one of our e-mails
    could not be delivered: the message failed for good, and the recipient's next address is
    tried."""

    notification_id: uuid.UUID
    answer: str = Field(min_length=1, max_length=1000, description="the report's status and the server's words")


UNDELIVERED_PATH = "/v1/undelivered"


class Undelivered(BaseModel):
    """A message to a customer that notify gave up on, with no address of theirs left to try
    (a dead letter): its complaint's handler must reach the customer another way. The workflow
    service reads these, gives each to its complaint (the `customer_not_reached` Update takes it
    as it is) and says when it has told the complaint (`UNDELIVERED_PATH/{id}/told`)."""

    notification_id: uuid.UUID
    complaint_id: str
    template: str
    channel: str = Field(description="the last channel tried")
    reason: str = Field(max_length=1000, description="the provider's last answer, contact data masked")
    failed_at: datetime
    # Every attempt logged so far, across an operator's retries: names this failure apart from
    # the next one after a retry, so each is told once.
    attempts_logged: int


BATCH_PATH = "/v1/notifications/batch"
MAX_BATCH = 100


Language = Literal["zh-CN", "en"]


# A customer's channels: e-mail, SMS, and the account they complained from (app push, WeChat, DingTalk).
CUSTOMER_CHANNEL = r"^(email|sms|app|wechat|dingtalk)$"


class Address(BaseModel):
    channel: str = Field(pattern=CUSTOMER_CHANNEL)
    address: str = Field(min_length=3, max_length=320)


class NotificationRequest(BaseModel):
    """One message to one recipient, rendered by notify from its template."""

    complaint_id: str | None = Field(default=None, max_length=100)
    template: str = Field(pattern=r"^[a-z_]{1,50}$")
    channel: str = Field(
        pattern=r"^(email|sms|app|wechat|dingtalk|internal)$",
        description="a customer's channel (app, wechat, dingtalk: through their gateways); internal: staff",
    )
    recipient_name: str = Field(min_length=1, max_length=200)
    recipient_address: str = Field(min_length=3, max_length=320)
    variables: dict = {}
    # The recipient's language (a customer's); none: the bilingual template (staff, older senders).
    language: Language | None = None
    # Where to try next when a channel fails for good (a bounce, an invalid number): the
    # customer's other addresses, in order.
    fallbacks: list[Address] = Field(default=[], max_length=3)


# Messages for staff that go out on a customer's kind of channel: the e-mail copies of staff
# alerts (services/notify/alert_emails.py). With the internal channel, what a customer's pages
# never show, though they name the complaint.
STAFF_EMAIL_TEMPLATES = frozenset({"alert_email"})
Audience = Literal["customer", "staff"]


def audience_of(channel: str, template: str) -> Audience:
    return "staff" if channel == "internal" or template in STAFF_EMAIL_TEMPLATES else "customer"


MAX_KEY_LENGTH = 200


def notification_key(identity: str) -> str:
    """A message's Idempotency-Key from what identifies it (a complaint's workflow, its step, a
    staff action's own key): as it reads when it fits, else its start and the digest of the
    whole, so that an action's key as long as the staff API takes still names one message."""
    if len(identity) <= MAX_KEY_LENGTH:
        return identity
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return f"{identity[: MAX_KEY_LENGTH - len(digest) - 1]}#{digest}"


class KeyedNotificationRequest(NotificationRequest):
    """A request with the Idempotency-Key it is handed over with: what a sender stores until
    notify has taken it, so a repeated hand-over delivers once."""

    idempotency_key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH)

    def body(self) -> dict:
        return self.model_dump(mode="json", exclude={"idempotency_key"})

    def request(self) -> NotificationRequest:
        """The request alone: what the key stands for (a replay must carry the same)."""
        return NotificationRequest.model_validate(self.model_dump(include=set(NotificationRequest.model_fields)))


class HandedOverNotification(KeyedNotificationRequest):
    """One item of a batch, with the W3C trace context of the complaint it belongs to: one
    request carries many complaints' messages, and each continues its own trace."""

    trace_context: dict[str, str] = {}


class NotificationBatch(BaseModel):
    """Many messages in one request: a sender with a backlog (the workflow's relay after a
    storm of deadlines) hands it over in one round trip and one transaction per batch."""

    notifications: list[HandedOverNotification] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("notifications")
    @classmethod
    def _one_item_per_key(cls, items: list[HandedOverNotification]) -> list[HandedOverNotification]:
        keys = [n.idempotency_key for n in items]
        if len(set(keys)) != len(keys):
            raise ValueError("each idempotency_key may appear once in a batch")
        return items


class Acceptance(BaseModel):
    """What notify did with one message: 202 stored now, 200 stored before under this key,
    409 the key was used for another message, 422 notify cannot render it. 409 and 422 will
    not change on a retry."""

    idempotency_key: str
    status: int
    notification_id: uuid.UUID | None = None
    error: str | None = None


class BatchAcceptance(BaseModel):
    results: list[Acceptance]
