"""A customer's e-mail answer to one of our messages goes to its complaint, not to a new one.

Our messages name the complaint's thread (In-Reply-To, References) and reply to the
complaint's own address (`care+<id>.<signature>@…`), so a mail program's answer carries one or
the other. The signature (services/notify/contract.py) shows it answers a message we sent, not
an id someone guessed. From the complaint's own customer (the sender is the address we wrote
to), it is their answer to our question when we asked one, and otherwise what they wrote
again, added to the complaint for its handler. A closed complaint's thread, an unsigned one, or
a sender who is not its customer, is a new complaint as any other e-mail.
"""

import email.message
import email.utils
import re
from datetime import UTC, datetime

from services.common.web import unavailable
from services.intake.mail_adapter import header, headers
from services.intake.state import Intake
from services.notify.contract import ReplyAddresses
from services.workflow.contract import (
    ActionRefused,
    Channel,
    ComplaintClosed,
    ComplaintError,
    ComplaintNotFound,
    CustomerReply,
    RepeatSubmission,
    Stage,
)

# Where a mail program starts quoting the message answered.
_QUOTE_STARTS = re.compile(
    r"^(>|On .{1,200} wrote:$|在 .{1,200}写道[:：]$|-{2,} ?(Original Message|原始邮件) ?-{2,}|From: |发件人[:：])",
    re.MULTILINE,
)


def thread_of(message: email.message.EmailMessage, replies: ReplyAddresses) -> str | None:
    """The complaint an e-mail answers, by its signed thread or the signed address it was sent to."""
    for name in ("In-Reply-To", "References"):
        if complaint_id := replies.complaint_of_thread(header(message, name)):
            return complaint_id
    for name in ("To", "Cc", "Delivered-To"):
        for _, address in email.utils.getaddresses(headers(message, name)):
            if complaint_id := replies.complaint_of_address(address):
                return complaint_id
    return None


def new_text(body: str) -> str:
    """What they wrote, without the message they answered quoted below it."""
    quoted = _QUOTE_STARTS.search(body)
    return (body[: quoted.start()] if quoted else body).strip()


async def take_reply(
    intake: Intake, complaint_id: str, sender: str, body: str, message_id: str
) -> tuple[str, str, datetime] | None:
    """Add the answer to its complaint: (complaint id, tracking token, when) once taken; None
    when it is to start a complaint of its own (closed, unknown, or not its customer)."""
    row = await intake.submissions.pool.fetchrow(
        """SELECT complaint_id, tracking_token, workflow_input->'customer'->>'email' AS email
           FROM intake.submissions WHERE complaint_id = $1 AND workflow_started_at IS NOT NULL""",
        complaint_id,
    )
    if row is None or not row["email"] or row["email"].lower() != sender.lower():
        return None
    text = new_text(body) or body.strip() or "(empty message)"
    key = f"email:{message_id}"
    try:
        # Answering our question; the same e-mail delivered again is the same answer (its key).
        await intake.complaints.customer_reply(complaint_id, CustomerReply(message=text[:10_000]), key=key)
    except ActionRefused:  # we asked nothing (or it was answered): they wrote again
        try:
            view = await intake.complaints.link_repeat(
                complaint_id,
                RepeatSubmission(
                    submission_id=key,
                    channel=Channel.email,
                    received_at=datetime.now(UTC),
                    description=text[:10_000],
                    similarity=1.0,
                ),
            )
        except (ActionRefused, ComplaintClosed, ComplaintNotFound):
            return None
        if view.stage == Stage.closed:
            return None
    except (ComplaintClosed, ComplaintNotFound):  # not found: closed long ago, gone from the engine
        return None
    except ComplaintError as exc:
        raise unavailable("the complaint cannot take the answer now; retry") from exc
    return row["complaint_id"], row["tracking_token"], datetime.now(UTC)
