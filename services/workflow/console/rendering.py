"""What every console page shares: its templates, the words and values in the person's
language, local times, and the headers every page is answered with."""

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.common.code_words import FIELD_VALUES, value_label
from services.common.money import written_amount
from services.common.privacy import scrub_text
from services.common.settings import get_settings
from services.common.web_session import language_of, page_headers
from services.workflow.acting import Desk
from services.workflow.console.labels import label
from services.workflow.console.session import LANG_COOKIE

PAGES = Jinja2Templates(directory=Path(__file__).parent / "templates")
STATIC = Path(__file__).parent / "static"
PAGE_HEADERS = page_headers()

# Fields that name a member of staff: pages show the person's name (their id on hover).
PEOPLE_FIELDS = frozenset({"staff_id", "assignee", "liaison"})


def lang_of(request: Request) -> str:
    return language_of(request, LANG_COOKIE)


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    lang = lang_of(request)
    zone = get_settings().time_zone

    def local(moment: datetime | None, with_seconds: bool = False) -> str:
        if moment is None:
            return ""
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")

    response = PAGES.TemplateResponse(
        request,
        template,
        {
            "t": lambda key: label(key, lang),
            "v": lambda kind, value: value_label(kind, value, lang),
            "field_values": FIELD_VALUES,
            "g": lambda group: request.app.state.router.config.title_of(group, lang),
            "lang": lang,
            "local": local,
            "money": lambda amount: written_amount(amount, lang),
            "scrub": scrub_text,  # a phone or e-mail typed into staff's words shows masked, as in the feed
            "zone": zone.key,
            "people_fields": PEOPLE_FIELDS,
            "names": {},
            **context,
        },
        status_code=status,
    )
    response.headers.update(PAGE_HEADERS)
    return response


def desk_of(request: Request) -> Desk:
    return request.app.state.desk
