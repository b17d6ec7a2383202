"""What a service sends notify: one notification request model for every sender (the
workflow's outbox, intake's staff alerts) and the bodies of notify's `POST /v1/notifications`
and of its batch form. Side-effect free, so senders import it instead of notify's implementation."""

import re
import uuid
from email.utils import parseaddr
from typing import Literal

from pydantic import BaseModel, Field, field_validator

NOTIFICATIONS_PATH = "/v1/notifications"
ERASE_PATH = "/v1/erasures/{complaint_id}"  # the workflow service erases a customer's messages
MESSAGE_DOMAIN = "complaints.notify"


def thread_id(complaint_id: str) -> str:
    """The Message-ID every message about a complaint refers to: a customer's mail program
    threads them, and their reply names the complaint (In-Reply-To, References)."""
    return f"<complaint-{complaint_id}@{MESSAGE_DOMAIN}>"


_THREAD = re.compile(r"<complaint-([0-9A-Za-z-]{1,100})@" + re.escape(MESSAGE_DOMAIN) + ">")


def complaint_of_thread(header: str) -> str | None:
    """The complaint a References or In-Reply-To header names by its thread, if any."""
    found = _THREAD.search(header)
    return found.group(1).upper() if found else None


def reply_address(template: str, complaint_id: str | None) -> str | None:
    """`care+{complaint_id}@example.com` with the complaint's id: where a reply finds it."""
    if not complaint_id or "{complaint_id}" not in template:
        return None
    return template.format(complaint_id=complaint_id)


def complaint_of_reply_address(address: str, template: str) -> str | None:
    """The complaint id a reply was addressed to, by the same template; None for another address."""
    if "{complaint_id}" not in template:
        return None
    before, _, after = template.partition("{complaint_id}")
    _, mailbox = parseaddr(address)
    mailbox = mailbox.lower()
    if mailbox.startswith(before.lower()) and mailbox.endswith(after.lower()) and len(mailbox) > len(before + after):
        return mailbox[len(before) : len(mailbox) - len(after)].upper()
    return None


BATCH_PATH = "/v1/notifications/batch"
MAX_BATCH = 100


Language = Literal["zh-CN", "en"]


class Address(BaseModel):
    channel: str = Field(pattern=r"^(email|sms)$")
    address: str = Field(min_length=3, max_length=320)


class NotificationRequest(BaseModel):
    """One message to one recipient, rendered by notify from its template."""

    complaint_id: str | None = Field(default=None, max_length=100)
    template: str = Field(pattern=r"^[a-z_]{1,50}$")
    channel: str = Field(pattern=r"^(email|sms|internal)$", description="internal: staff roles and people")
    recipient_name: str = Field(min_length=1, max_length=200)
    recipient_address: str = Field(min_length=3, max_length=320)
    variables: dict = {}
    # The recipient's language (a customer's); none: the bilingual template (staff, older senders).
    language: Language | None = None
    # Where to try next when a channel fails for good (a bounce, an invalid number): the
    # customer's other addresses, in order.
    fallbacks: list[Address] = Field(default=[], max_length=3)


class KeyedNotificationRequest(NotificationRequest):
    """A request with the Idempotency-Key it is handed over with: what a sender stores until
    notify has taken it, so a repeated hand-over delivers once."""

    idempotency_key: str = Field(min_length=1, max_length=200)

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
