"""A notification's words: its template in the recipient's language, with times written for
people in their time zone.

Templates live in `templates/`: `<name>.<language>.subject.j2` and `.body.j2` for each language
a customer may read (zh-CN, en), and a bilingual `<name>.subject.j2` / `.body.j2` for a request
that names no language (staff alerts, and senders from before languages). Rendering happens
once, when notify accepts the request, from the request alone: a retried delivery sends the
same words.
"""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError, pass_context
from jinja2.runtime import Context

from services.common.code_words import value_label
from services.common.money import written_amount
from services.common.written_time import written_time
from services.notify.contract import NotificationRequest
from services.notify.staff_words import StaffWords


class TemplateProblem(Exception):
    pass


@pass_context
def _when(context: Context, value: object, language: str | None = None) -> str:
    """`{{ due | when }}` in the message's language; `when('zh-CN')` in a bilingual staff alert."""
    return written_time(value, language or context.get("language"), context.get("timezone"))


TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=StrictUndefined,
    autoescape=False,  # plain-text messages; the e-mail's HTML part escapes them itself
    keep_trailing_newline=True,
)
TEMPLATES.filters["when"] = _when


@pass_context
def _person(context: Context, staff_id: str | None) -> str:
    return context["_staff_words"].person(staff_id)


@pass_context
def _group(context: Context, group: str | None, language: str) -> str:
    return context["_staff_words"].group(group, language)


def _words(code: object, kind: str, language: str) -> str:
    return value_label(kind, code, language)


TEMPLATES.filters["person"] = _person  # {{ owner | person }}: "Zhou Ting"
TEMPLATES.filters["group"] = _group  # {{ to_group | group('zh') }}: "运营业务联络组"
TEMPLATES.filters["words"] = _words  # {{ target | words('target', 'zh') }}: "首次响应"
TEMPLATES.filters["yuan"] = written_amount  # {{ amount | yuan('zh') }}: "1,500 元"


def _template_names(request: NotificationRequest, part: str) -> list[str]:
    names = [f"{request.template}.{part}.j2"]
    if request.language:
        names.insert(0, f"{request.template}.{request.language}.{part}.j2")
    return names


def render(request: NotificationRequest, staff_words: StaffWords | None = None) -> tuple[str, str]:
    """(subject, body) in the request's language where a template for it exists; staff and
    groups in staff alerts as `staff_words` calls them."""
    variables = {
        "timezone": None,
        **request.variables,
        "recipient_name": request.recipient_name,
        "language": request.language,
        "_staff_words": staff_words or StaffWords(),
    }
    try:
        subject = TEMPLATES.select_template(_template_names(request, "subject")).render(variables).strip()
        body = TEMPLATES.select_template(_template_names(request, "body")).render(variables)
    except TemplateNotFound as exc:
        raise TemplateProblem(f"unknown template '{request.template}'") from exc
    except UndefinedError as exc:
        raise TemplateProblem(f"template '{request.template}': {exc.message}") from exc
    return subject, body
