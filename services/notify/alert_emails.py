"""E-mail copies of staff alerts, one e-mail a person for a burst.

An alert to a named member of staff is delivered to the console at once (the local mailbox the
console lists). When the roster gives that person an e-mail, a copy is kept with the delivery
(`keeping_copies`, in its transaction) and waits: once a person's oldest waiting copy is
`alert_email_wait_seconds` old, every copy waiting for them goes out as one e-mail. A storm of
deadlines is then one e-mail to the lead, not hundreds, and a lone alert is in their inbox within
the wait (the console has it at once). The e-mail is an ordinary notification, stored in the same
transaction that marks its copies: retries, Message-ID and attempts as for any other message,
and a crash before the commit leaves the copies waiting for the next pass."""

import tomllib
import uuid
from datetime import timedelta
from itertools import groupby
from pathlib import Path

import asyncpg

from services.notify.contract import KeyedNotificationRequest
from services.notify.outbox import Delivered, Outbox

TEMPLATE = "alert_email"
LISTED = 50  # alerts written out in one e-mail; the rest are counted (the console lists them all)


def keeping_copies(staff_email: dict[str, str]) -> Delivered:
    """Keeps a copy of each alert delivered to a person the roster gives an e-mail (a second
    delivery of the same alert keeps one)."""

    async def keep(conn: asyncpg.Connection, alert_id: uuid.UUID, channel: str, address: str) -> None:
        kind, _, who = address.partition(":")
        if channel == "internal" and kind == "staff" and (email := staff_email.get(who)):
            await conn.execute(
                """INSERT INTO notify.alert_email_copies (alert_id, email) VALUES ($1, $2)
                   ON CONFLICT (alert_id) DO NOTHING""",
                alert_id,
                email,
            )

    return keep


def staff_emails(roster_file: Path) -> dict[str, str]:
    """Staff id -> e-mail, from the roster (`email` of each `[[staff]]`), for their own alerts."""
    try:
        roster = tomllib.loads(roster_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return {p["id"]: p["email"] for p in roster.get("staff", []) if p.get("id") and p.get("email")}


class AlertEmails:
    def __init__(self, pool: asyncpg.Pool, outbox: Outbox, wait: timedelta, console_url: str):
        self.pool, self.outbox, self.wait, self.console_url = pool, outbox, wait, console_url
        # How often to look: a few times within the wait, at least every 5 s, never a busy loop.
        self.every_seconds = max(0.2, min(wait.total_seconds() / 3, 5.0))

    async def send_due(self) -> int:
        """One e-mail for each person whose oldest waiting copy has waited long enough, with
        every copy waiting for them; returns how many e-mails were stored."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT c.alert_id, c.email, a.created_at, a.recipient_name, a.subject, a.body, a.complaint_id
                   FROM notify.alert_email_copies c JOIN notify.notifications a ON a.id = c.alert_id
                   WHERE c.email_id IS NULL AND c.email IN (
                       SELECT email FROM notify.alert_email_copies WHERE email_id IS NULL
                       GROUP BY email HAVING min(kept_at) <= now() - $1::interval)
                   ORDER BY c.email, a.accepted_order
                   FOR UPDATE OF c SKIP LOCKED""",
                self.wait,
            )
            emails = [self._email(list(copies)) for _, copies in groupby(rows, key=lambda r: r["email"])]
            if not emails:
                return 0
            outcomes = await self.outbox.accept_many([request for request, _ in emails], conn=conn)
            for outcome, (_, alert_ids) in zip(outcomes, emails, strict=True):
                if outcome.notification_id is None:  # cannot be rendered: the copies wait, the error is logged
                    raise RuntimeError(f"the alert e-mail was refused: {outcome.error}")
                await conn.execute(
                    "UPDATE notify.alert_email_copies SET email_id = $1 WHERE alert_id = ANY($2::uuid[])",
                    outcome.notification_id,
                    alert_ids,
                )
            return len(emails)

    def _email(self, copies: list[asyncpg.Record]) -> tuple[KeyedNotificationRequest, list[uuid.UUID]]:
        first = copies[0]
        alerts = [
            {"subject": c["subject"], "complaint_id": c["complaint_id"], "at": c["created_at"].isoformat()}
            for c in copies[:LISTED]
        ]
        complaints = {c["complaint_id"] for c in copies}
        request = KeyedNotificationRequest(
            idempotency_key=f"alert-email/{first['alert_id']}",  # stored in one transaction with its copies
            complaint_id=first["complaint_id"] if len(complaints) == 1 else None,
            template=TEMPLATE,
            channel="email",
            recipient_name=first["recipient_name"],
            recipient_address=first["email"],
            variables={
                "alerts": alerts,
                "text": first["body"] if len(copies) == 1 else None,  # a lone alert, written out
                "count": len(copies),
                "more": len(copies) - len(alerts),
                "console_url": self.console_url,
            },
        )
        return request, [c["alert_id"] for c in copies]
