"""A bounce of one of our e-mails, read on the e-mail channel, goes to notify: the message failed
for good, and notify tries the customer's next address (their phone), as it does when the
relay refuses an address outright. A relay that accepts a message and bounces it later is the
common case, and without this the message would stay "sent" to a customer who never got it."""

import logging

import httpx

from services.common.web import unavailable
from services.intake.mail_adapter import FailedDelivery
from services.intake.state import Intake
from services.notify.contract import BOUNCES_PATH, Bounce, notification_of_message_id

log = logging.getLogger(__name__)


async def report_bounce(intake: Intake, failed: FailedDelivery) -> str | None:
    """Tell notify which of its messages failed: its notification id once told, None when the
    bounce is of a message that is not ours (or one notify no longer knows). Notify down: 503,
    for the mail gateway to deliver the bounce again."""
    notification_id = notification_of_message_id(failed.message_id)
    if notification_id is None:
        return None
    try:
        answer = await intake.http.post(
            f"{intake.notify_url}{BOUNCES_PATH}",
            json=Bounce(notification_id=notification_id, answer=failed.answer).model_dump(mode="json"),
            timeout=10,
        )
    except httpx.HTTPError as exc:
        raise unavailable("notify cannot take the bounce now; deliver it again") from exc
    if answer.status_code == 404:
        log.info("a bounce of notification %s, which notify does not know", notification_id)
        return None
    if answer.status_code >= 400:
        raise unavailable("notify cannot take the bounce now; deliver it again")
    return str(notification_id)
