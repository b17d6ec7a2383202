"""Masking of personal data (domain §4: contact data masked in views and logs, 138****1234)."""

import re
from collections.abc import Mapping
from typing import Any

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# 7+ digits, optionally with a leading + and separators (spaces, hyphens, dots: 138.1234.5678):
# phone numbers in free text, Chinese characters right beside them included (请打13812345678联系我)
# and handles built on them (wx_13812345678). Not a run that goes on with a hyphen or Latin
# letter, nor a complaint id (20261122-9F3A1B2C, whose hex part can be all digits), nor a date.
# Nor an IPv4 address, which `_IPV4` masks as one (a phone-shaped mask would mislead whoever reads it).
# Each run found is then told apart (`_masked_number`): staff must still read an order number or
# an amount in the customer's words.
_PHONE = re.compile(
    r"(?<![A-Za-z0-9-])(?<!\d\.)(?!\d{8}-[0-9A-F]{8}(?![0-9A-Za-z]))(?!\d{4}-\d{1,2}-\d{1,2}(?!\d))"
    r"(?!\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d))"
    r"(\+?\d(?:[\d\s-]|\.(?=\d)){5,}\d)(?![A-Za-z0-9_-])"
)
# A mainland resident identity number: region, birth date, sequence, check character (0-9 or X).
_RESIDENT_ID = re.compile(
    r"(?<![0-9A-Za-z])([1-9]\d{5})(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}([\dXx])(?![0-9A-Za-z])"
)
# Money: a currency sign or code just before the number, or a currency word just after it.
_CURRENCY_BEFORE = re.compile(r"(?:[¥￥$€£]|RMB|CNY|USD)\s?$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"\s?(?:元|块|圆|万|yuan|rmb|cny|usd|dollars?)", re.IGNORECASE)
_CHINESE_MOBILE = re.compile(r"(?:0086|86)?1[3-9]\d{9}")
# An IPv4 address keeps its network (abuse is traced by it) and loses its host: 10.20.30.*.
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3})\.\d{1,3}(?!\d|\.\d)")


def mask_phone(phone: str) -> str:
    digits = _digits_of(phone)[-11:]  # a country code (+86) is not shown
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_name(name: str) -> str:
    """The first character and a star per other word or character: 王芳 -> 王*, Li Wei -> L** W***."""
    if " " in name.strip():
        return " ".join(w[:1] + "*" * (len(w) - 1) for w in name.split())
    return name[:1] + "*" * max(1, len(name) - 1) if name else name


def mask_contact(value: str) -> str:
    """An e-mail address, a phone number, or an account on a messaging channel, masked."""
    if "@" in value:
        return mask_email(value)
    if re.fullmatch(r"\+?[0-9][0-9 ()./-]{5,24}", value):
        return mask_phone(value)
    return mask_account(value)


def mask_account(account: str) -> str:
    """An app user id or a WeChat/DingTalk id: its first two characters."""
    return f"{account[:2]}***"


def scrub_text(text: str) -> str:
    """Mask every e-mail address, phone number, identity number, bank card number and IPv4
    address found in free text; leave the numbers staff work with (orders, amounts, dates)."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    text = _RESIDENT_ID.sub(lambda m: f"{m.group(1)}********{m.group(0)[-4:]}", text)
    text = _PHONE.sub(_masked_number, text)
    return _IPV4.sub(r"\1.*", text)


def _masked_number(found: re.Match[str]) -> str:
    """A run of digits as free text may show it: phone numbers and bank cards masked; money,
    dotted dates and versions, and long numbers that can be no phone (an order's, a parcel's) kept."""
    run, text = found.group(1), found.string
    if not re.search(r"\s", run):
        money = _CURRENCY_BEFORE.search(text, 0, found.start(1)) or _CURRENCY_AFTER.match(text, found.end(1))
        if money and not _CHINESE_MOBILE.fullmatch(_digits_of(run)):
            return run  # 退款 1500000 元, ¥1280000; not a mobile number a currency word happens to follow
        return _masked_one(run)
    # Several tokens: a dotted date, version or amount stands on its own; of the others, one that
    # is long enough to be a number of its own (7 digits or more) begins the next number once the
    # one before has as many (13812345678 13912345678 are two; 138 1234 5678 and 0086 13812345678
    # are one). Each number is then masked or kept on its own.
    shown, current = "", ""
    for piece in re.split(r"(\s+)", run):
        if _dotted_not_phone(piece):
            shown += _masked_group(current) + piece
            current = ""
            continue
        if len(_digits_of(piece)) >= 7 and len(_digits_of(current)) >= 7:
            shown += _masked_group(current)
            current = ""
        current += piece
    return shown + _masked_group(current)


def _masked_group(number: str) -> str:
    """One number with the spaces around it kept; a few digits alone are no phone."""
    core = number.strip()
    if len(_digits_of(core)) < 7:
        return number
    return number.replace(core, _masked_one(core), 1)


def _dotted_not_phone(token: str) -> bool:
    """1234567.89, 2026.11.24, 2026.11.24.1; not 138.1234.5678, whose groups are a phone's."""
    groups = token.lstrip("+").split(".")
    return len(groups) > 1 and any(len(_digits_of(group)) < 3 for group in groups[1:])


def _masked_one(number: str) -> str:
    digits = _digits_of(number)
    if _dotted_not_phone(number):
        return number
    if 16 <= len(digits) <= 19 and _luhn_valid(digits):
        return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"  # a bank card
    if len(digits) >= 12 and not re.search(r"\s", number):
        # One token too long for a local number: a phone only with its country or trunk prefix.
        if not (number.startswith(("+", "0")) or _CHINESE_MOBILE.fullmatch(digits)):
            return number  # 订单号 202611240001, a parcel's tracking number
    return mask_phone(number)


def _digits_of(text: str) -> str:
    return re.sub(r"\D", "", text)


def _luhn_valid(digits: str) -> bool:
    """The check digit of payment card numbers (ISO/IEC 7812)."""
    total = 0
    for position, digit in enumerate(int(d) for d in reversed(digits)):
        doubled = digit * 2 if position % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def masked_contact(customer: Mapping[str, Any]) -> str | None:
    """The contact a list shows of a customer: the phone masked, else the e-mail masked."""
    if customer.get("phone"):
        return mask_phone(customer["phone"])
    if customer.get("email"):
        return mask_email(customer["email"])
    if where := messaging_account(customer):
        return mask_account(where[1])
    return None


def messaging_account(customer: Mapping[str, Any]) -> tuple[str, str] | None:
    """(channel, account) of a customer record as events store it (`customer.messaging`): the
    app's user id, a WeChat or DingTalk id; None when they gave none."""
    messaging = customer.get("messaging")
    if isinstance(messaging, Mapping) and isinstance(messaging.get("address"), str) and messaging["address"]:
        return str(messaging.get("channel")), messaging["address"]
    return None


def masked_summary(*texts: str | None, length: int = 160) -> str:
    """The customer's words as a list shows them: one line, contact data masked, cut short."""
    text = " ".join(t for t in texts if t)
    return scrub_text(" ".join(text.split()))[:length]


# Event fields written by people (the customer's words, staff notes): where contact data typed
# by hand ends up. Ids and numbers are left alone (an order or account number can look like a phone number).
FREE_TEXT_FIELDS = frozenset(
    {
        "description",
        "demand",
        "scenario",
        "symptom",
        "impact",
        "text",
        "message",
        "question",
        "answer",
        "note",
        "reason",
        "reason_zh",
        "cause",
        "measures_taken",
        "improvement_plan",
        "plan",
        "compensation",
        "extra_compensation",
        "suggestion",
        "outcome",
        "summary",
        # typed by people too, and seen with a phone number in them
        "name",
        "company",
        "recorded_by",
        "filename",
        "channel_tags",
        "tags",
        "subject",
    }
)


def masked_event_data(data):
    """An event's data as it may leave the workflow service: the customer's contact fields
    masked, and phone numbers and e-mail addresses typed into free text masked too."""
    if isinstance(data, list):
        return [masked_event_data(item) for item in data]
    if not isinstance(data, dict):
        return data
    masked: dict[str, object] = {}
    for key, value in data.items():
        if key in ("phone", "email") and isinstance(value, str) and value:
            masked[key] = mask_contact(value)
        elif key == "messaging" and isinstance(value, dict) and isinstance(value.get("address"), str):
            masked[key] = {**value, "address": mask_account(value["address"])}  # an app or WeChat account
        elif key in FREE_TEXT_FIELDS and isinstance(value, str):
            masked[key] = scrub_text(value)
        elif key in FREE_TEXT_FIELDS and isinstance(value, list):
            masked[key] = [scrub_text(v) if isinstance(v, str) else masked_event_data(v) for v in value]
        else:
            masked[key] = masked_event_data(value)
    return masked
