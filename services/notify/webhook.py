"""Signed webhooks: how notify hands a message to a gateway it cannot speak to directly (an
SMS provider, WeChat or DingTalk, app push), and how a gateway reports back.

The request is a JSON POST with these headers (the gateway's side is documented in
deploy/README.md):

    Idempotency-Key:        the notification id (the same on every retry: deliver once)
    X-Complaints-Timestamp: seconds since the epoch when it was sent
    X-Complaints-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>" with the channel's secret>

A gateway checks the signature and refuses a timestamp more than 5 minutes old (a replay). It
answers 2xx when it took the message (its JSON may carry its own `id`), 4xx when the message
can never be delivered (an invalid number: permanent, the next address is tried), 429 or 5xx
when it cannot take it now (retried with backoff). Later it may POST a delivery receipt to
notify's `/v1/delivery-receipts`, signed the same way with the same secret.
"""

import hashlib
import hmac
import json
import time

import httpx

from services.common.http_client import http_client
from services.notify.providers import Delivery, DeliveryFailed, OutboundMessage

MAX_AGE_SECONDS = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {"X-Complaints-Timestamp": timestamp, "X-Complaints-Signature": signature(secret, timestamp, body)}


def verify(secret: str, timestamp: str | None, signed: str | None, body: bytes, now: float | None = None) -> bool:
    """A request signed with this secret within the last 5 minutes."""
    if not timestamp or not signed or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signed)


class WebhookProvider:
    def __init__(self, url: str, secret: str, http: httpx.AsyncClient | None = None, timeout: float = 10.0):
        self.url, self.secret, self.timeout = url, secret, timeout
        self.http = http or http_client(timeout=timeout)

    async def deliver(self, message: OutboundMessage) -> Delivery:
        body = json.dumps(
            {
                "notification_id": message.notification_id,
                "message_id": message.message_id,
                "complaint_id": message.complaint_id,
                "channel": message.channel,
                "to": {"name": message.recipient_name, "address": message.recipient_address},
                "subject": message.subject,
                "text": message.body,
            },
            ensure_ascii=False,
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.notification_id,
            **signed_headers(self.secret, body),
        }
        try:
            response = await self.http.post(self.url, content=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"gateway {self.url}: {exc!r}") from exc
        answer = f"{response.status_code} {response.text[:300]}".strip()
        if response.is_success:
            try:
                reference = str(response.json().get("id") or message.notification_id)
            except ValueError:
                reference = message.notification_id
            return Delivery(reference=reference, answer=answer)
        permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 409, 425, 429)
        raise DeliveryFailed(answer, permanent=permanent)
