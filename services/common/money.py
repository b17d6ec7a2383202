"""An amount of money written for people, the same way in a message and on a page: '1,500 yuan' /
'1,500 元', cents only when there are any ('1,500.50 元'). Amounts are yuan (the compensation
limits in authority.toml are too)."""

from decimal import Decimal, InvalidOperation


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
    return f"{number} 元" if (language or "").startswith("zh") else f"{number} yuan"
