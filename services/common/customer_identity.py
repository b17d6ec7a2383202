"""Who a customer is, as keys that name no one: their phone, e-mail and account, each hashed.

Intake finds a customer's earlier complaints by these keys (repeats, batches, erasure); the
staff inbox keeps them so that an agent who types a caller's number or address in full finds
their complaints, while every list shows the contact masked (domain §4).
"""

import hashlib
from collections.abc import Mapping
from typing import Any

from services.common.erasure import was_erased
from services.common.privacy import messaging_account

# A phone number is its last 11 digits: "+86 138-1234-5678" and "13812345678" are one person.
PHONE_DIGITS = 11
# Fewer digits than this in a search are part of a number, not a whole one.
MIN_PHONE_DIGITS = 7
_PHONE_PUNCTUATION = str.maketrans("", "", " -+().")


def _hashed(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def identity_keys(
    phone: str | None, email: str | None, account_id: str | None, messaging: tuple[str, str] | None = None
) -> list[str]:
    """The keys of one customer's phone, e-mail, account and account on a messaging channel
    ((channel, address): the app's user id, a WeChat id), those that are given."""
    found = []
    digits = "".join(c for c in phone or "" if c.isdigit())
    if digits:
        found.append(f"phone:{digits[-PHONE_DIGITS:]}")
    if email:
        found.append(f"email:{email.strip().lower()}")
    if account_id and account_id.strip():
        found.append(f"account:{account_id.strip().lower()}")
    if messaging is not None:
        found.append(f"{messaging[0]}:{messaging[1].strip()}")
    return [_hashed(k) for k in found]


def keys_of(customer: Mapping[str, Any] | None) -> list[str]:
    """The keys of a customer record as events store it; none once it is erased."""
    if customer is None or was_erased(customer):
        return []
    where = messaging_account(customer)
    return identity_keys(customer.get("phone"), customer.get("email"), customer.get("account_id"), where)


def keys_in_search(text: str) -> list[str]:
    """The keys a staff search names in full: a whole phone number, an e-mail address, or an
    account. Part of a number matches no key (the masked contact is searched for that)."""
    text = text.strip()
    if not text:
        return []
    compact = text.translate(_PHONE_PUNCTUATION)
    phone = compact if compact.isdigit() and len(compact) >= MIN_PHONE_DIGITS else None
    email = text if "@" in text else None
    return identity_keys(phone, email, text)
