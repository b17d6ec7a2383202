"""A worker keeps at most `worker_cached_complaints` open complaints in memory (the SDK's
workflow cache); any other complaint replays its history from Temporal at its next action.
With room for one, complaints worked in turn each replay, and each action is taken once."""

import uuid

import httpx
import pytest

from services.run import LocalSystem, settings_on_free_ports
from tests.e2e.test_end_to_end import _metric, eventually, new_complaint

pytestmark = pytest.mark.e2e


def _misses(text: str) -> float:
    """The SDK's count of tasks that found their workflow evicted (absent until the first)."""
    try:
        return _metric(text, "temporal_sticky_cache_miss")
    except AssertionError:
        return 0.0


async def test_complaints_the_worker_does_not_keep_replay_at_their_next_action(tmp_path):
    settings = settings_on_free_ports(tmp_path, worker_cached_complaints=1)
    system = LocalSystem(settings)
    sdk_metrics = f"http://{settings.host}:{settings.worker_sdk_metrics_port}/metrics"
    try:
        await system.start()
        async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"Bearer {system.dev_key}"}) as http:
            as_manager = await system.staff_headers("wang.fang")
            complaints = []
            for _ in range(3):
                accepted = await http.post(
                    f"{settings.url_of('intake')}/v1/complaints",
                    json=new_complaint(),
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                assert accepted.status_code == 202, accepted.text
                complaints.append(f"{settings.url_of('workflow')}/v1/complaints/{accepted.json()['complaint_id']}")

            async def assigned(complaint: str) -> bool | None:
                response = await http.get(complaint, headers=as_manager)
                return response.status_code == 200 and response.json()["stage"] == "assigned" or None

            for complaint in complaints:
                assert await eventually(lambda complaint=complaint: assigned(complaint))
            missed_before = _misses((await http.get(sdk_metrics)).text)

            async def act(url: str, body: dict) -> httpx.Response:
                """A 503 (no worker took it in time) is retried with the same key, as staff clients do."""
                headers = {**as_manager, "Idempotency-Key": str(uuid.uuid4())}
                for _ in range(5):
                    response = await http.post(url, json=body, headers=headers)
                    if response.status_code != 503:
                        break
                return response

            for step in ("acknowledge", "notes"):  # each complaint in turn: the one kept is never the next
                for complaint in complaints:
                    body = {"text": "checked the order"} if step == "notes" else {}
                    response = await act(f"{complaint}/{step}", body)
                    assert response.status_code == 200, response.text

            text = (await http.get(sdk_metrics)).text
            assert _metric(text, "temporal_sticky_cache_size") <= 1
            # Each action after the first found its complaint evicted by the one before (the first
            # may find the complaint the worker ran last).
            assert _misses(text) - missed_before >= 5
            for complaint in complaints:
                view = (await http.get(complaint, headers=as_manager)).json()
                assert view["stage"] == "acknowledged" and view["owner"] == "wang.fang"
                events = (await http.get(f"{complaint}/events", headers=as_manager)).json()["events"]
                kinds = [e["type"] for e in events]
                assert kinds.count("Acknowledged") == 1 and kinds.count("NoteAdded") == 1, kinds
    finally:
        await system.stop()
