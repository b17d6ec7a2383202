"""A notification's words: its template in the recipient's language, with times written for
people in their time zone.

Templates live in `templates/`: `<name>.<language>.subject.j2` and `.body.j2` for each language
a customer may read (zh-CN, en), and a bilingual `<name>.subject.j2` / `.body.j2` for a request
that names no language (staff alerts, and senders from before languages). Rendering happens
once, when notify accepts the request, from the request alone: a retried delivery sends the
same words.
"""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError, pass_context
from jinja2.runtime import Context

from services.notify.contract import NotificationRequest

DEFAULT_ZONE = "Asia/Shanghai"  # the organisation's, when a request names none
ZONE_NAMES = {"Asia/Shanghai": {"zh-CN": "北京时间", "en": "China Standard Time"}}
_WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class TemplateProblem(Exception):
    pass


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def written_time(value: object, language: str | None, zone_name: str | None) -> str:
    """'周二 12月1日 17:00（北京时间）' / 'Tue 1 Dec 2026, 17:00 (China Standard Time)'. A time
    without a zone is taken as already local (older senders wrote local wall-clock text)."""
    if value in (None, ""):
        return ""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)  # free text a sender wrote: shown as written
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


@pass_context
def _when(context: Context, value: object) -> str:
    return written_time(value, context.get("language"), context.get("timezone"))


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text messages; the e-mail's HTML part escapes them itself
    keep_trailing_newline=True,
)
TEMPLATES.filters["when"] = _when


def _template_names(request: NotificationRequest, part: str) -> list[str]:
    names = [f"{request.template}.{part}.j2"]
    if request.language:
        names.insert(0, f"{request.template}.{request.language}.{part}.j2")
    return names


def render(request: NotificationRequest) -> tuple[str, str]:
    """(subject, body) in the request's language where a template for it exists."""
    variables = {
        "timezone": None,
        **request.variables,
        "recipient_name": request.recipient_name,
        "language": request.language,
    }
    try:
        subject = TEMPLATES.select_template(_template_names(request, "subject")).render(variables).strip()
        body = TEMPLATES.select_template(_template_names(request, "body")).render(variables)
    except TemplateNotFound as exc:
        raise TemplateProblem(f"unknown template '{request.template}'") from exc
    except UndefinedError as exc:
        raise TemplateProblem(f"template '{request.template}': {exc.message}") from exc
    return subject, body
