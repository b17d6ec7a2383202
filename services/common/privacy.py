"""Masking of personal data (domain §4: contact data masked in views and logs, 138****1234)."""

import re

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# 7+ digits, optionally with a leading + and separators: phone numbers in free text.
_PHONE = re.compile(r"(?<![\w])(\+?\d[\d\s-]{5,}\d)(?![\w])")


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)[-11:]  # a country code (+86) is not shown
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_contact(value: str) -> str:
    return mask_email(value) if "@" in value else mask_phone(value)


def scrub_text(text: str) -> str:
    """Mask every e-mail address and phone number found in free text."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(1)), text)
