"""What the workflow service knows about the organisation, asked of it (routing and the roster
are its configuration): the departments' titles, since the reports keep group ids and the
dashboard shows titles, and the staff, whom an improvement action is given to. Asked with the
reader's staff token; the titles are remembered for a few minutes, the staff asked each time
(who is on duty changes by the hour). While the workflow service cannot say, the last answer it
gave, else nothing (the pages then show ids and take a staff id as typed)."""

import logging
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import httpx

from services.workflow.contract import GROUPS_PATH, STAFF_PATH, Group, StaffMember, titles_of

log = logging.getLogger(__name__)

REMEMBER_SECONDS = 300.0
T = TypeVar("T")


class _Remembered(Generic[T]):
    """One list of the workflow service's, asked at most every `remember` seconds."""

    def __init__(
        self, http: httpx.AsyncClient, path: str, parse: Callable[[Any], T], empty: T, what: str, remember: float
    ):
        self.http, self.path, self.parse, self.what, self.remember = http, path, parse, what, remember
        self._answer, self._known, self._until = empty, False, 0.0

    async def get(self, token: str) -> T:
        if time.monotonic() < self._until:
            return self._answer
        try:
            answer = await self.http.get(self.path, headers={"Authorization": f"Bearer {token}"}, timeout=3)
            answer.raise_for_status()
            self._answer, self._known = self.parse(answer.json()), True
            self._until = time.monotonic() + self.remember
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("%s unavailable, showing %s", self.what, "the last known" if self._known else "none",
                        extra={"error": type(exc).__name__})  # fmt: skip
        return self._answer


class Directory:
    def __init__(self, http: httpx.AsyncClient):
        """`http`: its base URL is the workflow service's."""
        self._titles: _Remembered[dict[str, dict[str, str]]] = _Remembered(
            http, GROUPS_PATH, lambda body: titles_of([Group.model_validate(g) for g in body]), {}, "department titles",
            REMEMBER_SECONDS,
        )  # fmt: skip
        self._staff: _Remembered[list[StaffMember]] = _Remembered(
            http, STAFF_PATH, lambda body: [StaffMember.model_validate(s) for s in body], [], "the staff roster", 0.0
        )

    async def group_titles(self, token: str) -> dict[str, dict[str, str]]:
        """Each group's titles by language (none when the workflow service never answered)."""
        return await self._titles.get(token)

    async def staff(self, token: str) -> list[StaffMember]:
        """Everyone on the roster (none when the workflow service never answered)."""
        return await self._staff.get(token)

    async def off_roster(self, token: str, staff_ids: list[str]) -> list[str]:
        """Those of `staff_ids` the roster does not name (none while the roster is unknown: an
        owner is then taken as typed)."""
        known = {s.staff_id for s in await self.staff(token)}
        return [i for i in staff_ids if known and i not in known]
