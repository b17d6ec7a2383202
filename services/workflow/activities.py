"""Activities: the workflow's only side effects (appending events, asking notify to send)."""

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.common.events import NewEvent
from services.workflow.eventstore import EventStore, VersionConflict


class NotificationRequest(BaseModel):
    idempotency_key: str  # decided by the workflow, so a retried activity sends once
    complaint_id: str
    template: str
    channel: str
    recipient_name: str
    recipient_address: str
    variables: dict = {}


class ComplaintActivities:
    def __init__(self, event_store: EventStore, http: httpx.AsyncClient, notify_url: str):
        self.event_store = event_store
        self.http = http
        self.notify_url = notify_url.rstrip("/")

    @activity.defn
    async def append_event(self, event: NewEvent) -> int:
        try:
            result = await self.event_store.append([event])
        except VersionConflict as exc:
            # Another writer owns this stream's next version: retrying cannot help.
            raise ApplicationError(str(exc), type="VersionConflict", non_retryable=True) from exc
        return result.positions[0]

    @activity.defn
    async def send_notification(self, request: NotificationRequest) -> str:
        body = request.model_dump(exclude={"idempotency_key"})
        response = await self.http.post(
            f"{self.notify_url}/v1/notifications",
            json=body,
            headers={"Idempotency-Key": request.idempotency_key},
        )
        if response.status_code in (400, 404, 409, 422):
            raise ApplicationError(
                f"notify refused the notification: {response.status_code} {response.text}",
                type="NotificationRejected",
                non_retryable=True,
            )
        response.raise_for_status()  # 5xx and transport errors: Temporal retries
        return response.json()["notification_id"]
