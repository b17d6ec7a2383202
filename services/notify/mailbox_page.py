"""The local mailbox page (`make run`): every e-mail the local SMTP server received, newest
first, and each one as the customer reads it. Operators only: the browser asks for the
operator token as the password (HTTP Basic)."""

import email.policy
import mailbox
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.common.privacy import mask_contact
from services.common.service_auth import operator_in_browser
from services.common.settings import get_settings
from services.common.web import ApiError

router = APIRouter(include_in_schema=False, dependencies=[Depends(operator_in_browser)])
PAGES = Jinja2Templates(directory=Path(__file__).parent / "templates" / "pages")
_PARSER = BytesParser(policy=email.policy.default)


def _summary(key: str, message: EmailMessage) -> dict:
    recipients = message["To"].addresses if message["To"] else ()
    date = message["Date"]
    return {
        "key": key,
        "to": ", ".join(mask_contact(a.addr_spec) for a in recipients),
        "subject": str(message["Subject"] or ""),
        "date": parsedate_to_datetime(str(date)) if date else None,
        "complaint_id": message["X-Complaint-Id"],
        "message_id": message["Message-ID"],
    }


def _maildir() -> mailbox.Maildir:
    directory = get_settings().mail_dir
    if not (directory / "new").exists():
        raise ApiError(404, "not_found", f"no local mailbox at {directory} (is an SMTP relay set?)")
    return mailbox.Maildir(directory, factory=None, create=False)


@router.get("/mailbox", response_class=HTMLResponse)
async def mailbox_page(request: Request) -> HTMLResponse:
    box = _maildir()
    messages = []
    for key in box.keys():
        parsed = _PARSER.parsebytes(box.get_bytes(key))
        assert isinstance(parsed, EmailMessage)
        messages.append(_summary(key, parsed))
    messages.sort(key=lambda m: (m["date"] is not None, m["date"]), reverse=True)
    return PAGES.TemplateResponse(request, "mailbox.html", {"messages": messages[:500], "total": len(messages)})


@router.get("/mailbox/{key}", response_class=HTMLResponse)
async def mailbox_message(request: Request, key: str) -> HTMLResponse:
    box = _maildir()
    try:
        raw = box.get_bytes(key)
    except KeyError as exc:
        raise ApiError(404, "not_found", f"no message {key}", field="key") from exc
    parsed = _PARSER.parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return PAGES.TemplateResponse(request, "message.html", {"m": _summary(key, parsed), "text": text})
