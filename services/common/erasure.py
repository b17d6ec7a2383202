"""What erasing a customer's personal data removes (PIPL art. 47; issue: erasure on request).

One rule for every store that holds a copy (intake's submissions, the workflow's events,
inbox and outbox, notify's messages): the customer's identity and own words go; what
happened, when and by whom stays, so the audit trail and the reports still hold.

- the customer record: name, phone, e-mail, company, account, and every other contact field;
- the customer's own words: description, scenario, symptom, impact, demand, subject,
  attachments' file names, channel tags, replies, survey suggestions;
- staff texts (notes, progress, resolution, reasons) stay, with every trace of this customer
  in them replaced: their name, phone numbers, e-mail addresses and account, and any other
  phone number or e-mail address typed in (privacy.scrub_text).
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from services.common.privacy import FREE_TEXT_FIELDS, messaging_account, scrub_text

ERASED = "[erased]"

# Fields of the customer record that identify a person; the rest (segment, language, time zone,
# preferred channel) describe no one and keep the complaint's handling explainable.
IDENTIFYING = frozenset(
    {"name", "phone", "email", "company", "account_id", "address", "handle", "external_ref", "messaging"}
)
# The customer's own words, wherever a record, an event or a message carries them.
CUSTOMER_WORDS = frozenset(
    {"description", "scenario", "symptom", "impact", "demand", "subject", "suggestion", "channel_tags", "reply"}
)
# Links that open the customer's complaint (the tracking token is its credential).
LINKS = frozenset({"status_url", "page_url", "tracking_token"})
# Events whose `message` is the customer's (a reply), not staff's.
CUSTOMER_MESSAGE_EVENTS = frozenset({"CustomerReplied"})


@dataclass
class Identity:
    """The traces of one customer to look for in text: found in their records before erasing."""

    texts: set[str] = field(default_factory=set)  # names, e-mail addresses, accounts
    phone_digits: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, customer: dict[str, Any] | None) -> "Identity":
        identity = cls()
        identity.add(customer or {})
        return identity

    def add(self, customer: dict[str, Any]) -> None:
        where = messaging_account(customer)
        for value in (*(customer.get(k) for k in ("name", "email", "company", "account_id")), where and where[1]):
            if isinstance(value, str) and len(value.strip()) >= 2:
                self.texts.add(value.strip())
        digits = "".join(c for c in str(customer.get("phone") or "") if c.isdigit())
        if len(digits) >= 7:
            self.phone_digits.add(digits[-11:])

    def remove_from(self, text: str) -> str:
        for value in sorted(self.texts, key=len, reverse=True):
            text = re.sub(re.escape(value), ERASED, text, flags=re.IGNORECASE)
        for digits in self.phone_digits:
            # the number with any separators between its digits (138-1234-5678, 138 1234 5678)
            text = re.sub(r"[\s.-]?".join(digits), ERASED, text)
        return scrub_text(text)


def erase_customer(customer: dict[str, Any]) -> dict[str, Any]:
    """A customer record without who they are; still valid where a name is required."""
    kept = {k: v for k, v in customer.items() if k not in IDENTIFYING}
    return {**kept, "name": ERASED, "erased": True}


def was_erased(customer: Mapping[str, Any] | None) -> bool:
    """Whether a customer record is one `erase_customer` made."""
    return bool((customer or {}).get("erased"))


def erase_data(data: Any, identity: Identity, *, customer_message: bool = False, in_text: bool = False) -> Any:
    """A record's or an event's data with the customer's data erased (rules above). Ids,
    times and codes are left as they are; texts people typed lose every trace of the customer."""
    if isinstance(data, list):
        return [erase_data(item, identity, customer_message=customer_message, in_text=in_text) for item in data]
    if isinstance(data, str):
        return identity.remove_from(data) if in_text else data
    if not isinstance(data, dict):
        return data
    erased: dict[str, Any] = {}
    for key, value in data.items():
        if key == "customer" and isinstance(value, dict):
            erased[key] = erase_customer(value)
        elif key in CUSTOMER_WORDS or (customer_message and key == "message"):
            erased[key] = [] if isinstance(value, list) else (ERASED if value is not None else None)
        elif key == "attachments" and isinstance(value, list):
            erased[key] = [{**a, "filename": ERASED} if isinstance(a, dict) else a for a in value]
        elif key in IDENTIFYING and isinstance(value, str):
            erased[key] = ERASED
        elif key in LINKS:
            erased[key] = None
        else:
            erased[key] = erase_data(
                value, identity, customer_message=customer_message, in_text=in_text or key in FREE_TEXT_FIELDS
            )
    return erased


def erase_event(event_type: str, data: dict[str, Any], identity: Identity) -> dict[str, Any]:
    return erase_data(data, identity, customer_message=event_type in CUSTOMER_MESSAGE_EVENTS)


def erase_message_request(request: dict[str, Any], identity: Identity) -> dict[str, Any]:
    """A notification request as the workflow's outbox keeps it: a message to the customer
    loses its addresses; every message (staff alerts too) loses the customer in its variables."""
    erased = dict(request)
    if request.get("channel") != "internal":
        erased.update(recipient_name=ERASED, recipient_address=ERASED, fallbacks=[])
    erased["variables"] = erase_data(request.get("variables") or {}, identity, in_text=True)
    return erased


class ErasedCopy(BaseModel):
    """What one store answers when asked to erase a complaint's customer data."""

    store: str  # intake, events, notify, temporal
    complaint_id: str
    rows: int  # records changed (0 on a repeat: erasing twice is erasing once)
