"""Activities: the workflow's only side effects (appending events, loading a policy, asking
notify to send)."""

from pathlib import Path

import httpx
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.common.events import NewEvent
from services.workflow.eventstore import EventStore, VersionConflict
from services.workflow.policy import POLICY_DIR, Policy, PolicyError, load_policy
from services.workflow.routing import Route, RouteRequest, Router


class NotificationRequest(BaseModel):
    idempotency_key: str  # decided by the workflow, so a retried activity sends once
    complaint_id: str
    template: str
    channel: str  # email | sms for customers, internal for staff roles
    recipient_name: str
    recipient_address: str
    variables: dict = {}


class ComplaintActivities:
    def __init__(self, event_store: EventStore, router: Router, http: httpx.AsyncClient, notify_url: str,
                 policy_dir: Path = POLICY_DIR):
        self.event_store = event_store
        self.router = router
        self.http = http
        self.notify_url = notify_url.rstrip("/")
        self.policy_dir = policy_dir

    @activity.defn
    async def append_events(self, events: list[NewEvent]) -> list[int]:
        """Append a batch of one complaint's events in one transaction (one activity, fewer
        history events); a retried batch is recognised by its event ids."""
        try:
            result = await self.event_store.append(events)
        except VersionConflict as exc:
            # Another writer owns this stream's next version: retrying cannot help.
            raise ApplicationError(str(exc), type="VersionConflict", non_retryable=True) from exc
        return result.positions

    @activity.defn
    async def load_policy(self, name: str) -> Policy:
        try:
            return load_policy(name, self.policy_dir)
        except PolicyError as exc:
            # Retried: a complaint must not start without a policy, and an operator can fix the
            # file. An Update that moves a complaint asks for a single attempt instead.
            raise ApplicationError(str(exc), type="PolicyError") from exc

    @activity.defn
    async def route_complaint(self, request: RouteRequest) -> Route:
        """The group and the member on duty who takes the complaint (routing.toml, roster)."""
        return await self.router.route(request)

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
