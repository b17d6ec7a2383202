"""A message that never reached the customer reaches the complaint's handler instead.

Notify gives a message up when every address the customer gave has failed (a bounce, a number
that does not exist, ten attempts in vain): a dead letter. Left there, the customer waits for a
written result or a question they will never read, and the complaint looks answered. A pass
here reads notify's dead letters that no complaint has heard of and tells each complaint (its
`customer_not_reached` Update: an event on its timeline, an alert to its owner, a question's
clock running again), then tells notify it is done. Each failure is one Update id, so a pass
repeated after a crash tells the complaint once.
"""

import logging

import httpx
from prometheus_client import Counter
from pydantic import TypeAdapter

from services.notify.contract import UNDELIVERED_PATH, Undelivered
from services.workflow.contract import (
    ActionRefused,
    ComplaintClient,
    ComplaintClosed,
    ComplaintNotFound,
)

log = logging.getLogger(__name__)

BATCH = 100
POLL_SECONDS = 5.0  # dead letters are rare and come minutes after their message; seconds are plenty
_LIST = TypeAdapter(list[Undelivered])

NOT_REACHED = Counter(
    "customers_not_reached_total",
    "customers' messages given up on every address, by whether their complaint was open to be told",
    ["complaint"],
)


async def tell_complaints(notify: httpx.AsyncClient, complaints: ComplaintClient) -> bool:
    """One pass; busy when a full batch was read."""
    answer = await notify.get(UNDELIVERED_PATH, params={"limit": BATCH})
    answer.raise_for_status()
    found = _LIST.validate_python(answer.json())
    for message in found:
        await _tell(complaints, message)
        told = await notify.post(
            f"{UNDELIVERED_PATH}/{message.notification_id}/told", params={"attempts_logged": message.attempts_logged}
        )
        told.raise_for_status()
    return len(found) == BATCH


async def _tell(complaints: ComplaintClient, message: Undelivered) -> None:
    facts = {"complaint_id": message.complaint_id, "notification_id": str(message.notification_id)}
    try:
        await complaints.customer_not_reached(message.complaint_id, message)
    except (ComplaintClosed, ComplaintNotFound, ActionRefused):
        # Closed before its message failed: nobody handles it any more. The count alerts an
        # operator (CustomerMessagesFailedAfterClose); the message stays in notify's dead letters.
        NOT_REACHED.labels(complaint="closed").inc()
        log.warning("a customer's message failed for good after their complaint closed", extra=facts)
        return
    NOT_REACHED.labels(complaint="open").inc()
    log.info("a customer's message failed for good; their complaint's handler is told", extra=facts)
