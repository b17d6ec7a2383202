"""What a service sends notify: one notification request model for every sender (the
workflow's outbox, intake's staff alerts) and the body of notify's `POST /v1/notifications`.
Side-effect free, so senders import it instead of notify's implementation."""

from pydantic import BaseModel, Field

NOTIFICATIONS_PATH = "/v1/notifications"


class NotificationRequest(BaseModel):
    """One message to one recipient, rendered by notify from its template."""

    complaint_id: str | None = Field(default=None, max_length=100)
    template: str = Field(pattern=r"^[a-z_]{1,50}$")
    channel: str = Field(pattern=r"^(email|sms|internal)$", description="internal: staff roles and people")
    recipient_name: str = Field(min_length=1, max_length=200)
    recipient_address: str = Field(min_length=3, max_length=320)
    variables: dict = {}


class KeyedNotificationRequest(NotificationRequest):
    """A request with the Idempotency-Key it is handed over with: what a sender stores until
    notify has taken it, so a repeated hand-over delivers once."""

    idempotency_key: str

    def body(self) -> dict:
        return self.model_dump(mode="json", exclude={"idempotency_key"})
