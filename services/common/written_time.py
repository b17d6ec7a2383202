"""A moment written for people in their time zone and language, the same way in a message and on
a page: '周二 2026年12月1日 17:00（北京时间）' / 'Tue 1 Dec 2026, 17:00 (China Standard Time)'."""

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"  # the organisation's, when nothing names one
ZONE_NAMES = {"Asia/Shanghai": {"zh-CN": "北京时间", "en": "China Standard Time"}}
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def written_time(value: object, language: str | None, zone_name: str | None) -> str:
    """`language` is "zh-CN" or "en" (anything else reads as English). A time without a zone is
    taken as already local (older senders wrote local wall-clock text); text that is no time is
    shown as written."""
    if value in (None, ""):
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    zone = _zone(zone_name)
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    zone_label = ZONE_NAMES.get(zone.key, {}).get(language or "en", zone.key)
    if language == "zh-CN":
        return (
            f"{_WEEKDAYS_ZH[moment.weekday()]} {moment.year}年{moment.month}月{moment.day}日 "
            f"{moment:%H:%M}（{zone_label}）"
        )
    return f"{_WEEKDAYS_EN[moment.weekday()]} {moment.day} {moment:%b %Y, %H:%M} ({zone_label})"
