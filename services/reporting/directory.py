"""The departments' titles, asked of the workflow service (routing is its configuration): the
reports keep group ids, the dashboard shows the titles. Asked with the reader's staff token and
remembered for a few minutes; while the workflow service cannot say, the last titles it gave,
else the ids, so the reports still read."""

import logging
import time

import httpx

from services.workflow.contract import GROUPS_PATH, Group, titles_of

log = logging.getLogger(__name__)

REMEMBER_SECONDS = 300.0


class GroupTitles:
    def __init__(self, http: httpx.AsyncClient):
        self.http = http  # its base URL is the workflow service's
        self._titles: dict[str, dict[str, str]] = {}
        self._until = 0.0

    async def known(self, token: str) -> dict[str, dict[str, str]]:
        """Each group's titles by language (none when the workflow service never answered)."""
        if time.monotonic() < self._until:
            return self._titles
        try:
            answer = await self.http.get(GROUPS_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=3)
            answer.raise_for_status()
            self._titles = titles_of([Group.model_validate(g) for g in answer.json()])
            self._until = time.monotonic() + REMEMBER_SECONDS
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("department titles unavailable, showing %s", "the last known" if self._titles else "ids",
                        extra={"error": type(exc).__name__})  # fmt: skip
        return self._titles
