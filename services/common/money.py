"""An amount of money written for people, the same way in a message and on a page: '1,500 yuan' /
'1,500 元', cents only when there are any ('1,500.50 元'). Amounts are yuan (the compensation
limits in authority.toml are too). And a granted compensation as the written result cites it to
the customer: '退款 1,500 元' / 'refund of 1,500 yuan'."""

from decimal import Decimal, InvalidOperation

from services.common.code_words import value_label


def _chinese(language: str | None) -> bool:
    """A message's language tag ("zh-CN") or a page's ("zh"); anything else reads as English."""
    return (language or "").startswith("zh")


def written_amount(amount: object, language: str | None) -> str:
    """`language` is "zh-CN"/"zh" or "en" (anything else reads as English). Text that is no
    number is shown as written."""
    if amount is None or amount == "":
        return ""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(amount)
    number = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    return f"{number} 元" if _chinese(language) else f"{number} yuan"


def written_compensation(kind: str, amount: object, language: str | None) -> str:
    """One compensation as a customer reads it: 'refund of 1,500 yuan' / '退款 1,500 元'; a kind
    without an amount (a written apology) is its word alone."""
    what = value_label("compensation_kind", kind, "zh" if _chinese(language) else "en")
    if amount is None:
        return what
    money = written_amount(amount, language)
    return f"{what} {money}" if _chinese(language) else f"{what} of {money}"


def written_compensations(granted: list[tuple[str, object]], language: str | None) -> str:
    """Several (kind, amount), in the order they were granted."""
    separator = "；" if _chinese(language) else "; "
    return separator.join(written_compensation(kind, amount, language) for kind, amount in granted)
