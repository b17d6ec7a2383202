"""Background loops survive any exception, say so in the logs and in /healthz, and recover."""

import asyncio
import logging

import httpx
from fastapi import FastAPI
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from services.common.loops import Loops
from services.common.web import install_common_routes


async def test_a_pass_that_raises_anything_is_logged_and_the_loop_goes_on(caplog):
    calls = []

    async def one_pass():
        calls.append(len(calls))
        if len(calls) <= 2:  # what ended intake's starter for good: not an OSError nor a database error
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        return None

    loops = Loops()
    with caplog.at_level(logging.ERROR, logger="services.common.loops"):
        async with loops.supervised("starter", one_pass, every_seconds=0.01) as state:
            for _ in range(500):
                if state.passes >= 2:
                    break
                await asyncio.sleep(0.01)
    assert state.passes >= 2 and state.failures == 0 and len(calls) >= 4
    assert "WorkflowUpdateRPCTimeoutOrCancelledError" in (state.last_error or "")
    failures = [r for r in caplog.records if r.getMessage() == "background loop pass failed; retrying"]
    assert len(failures) == 2 and failures[0].exc_info is not None


async def test_health_reports_each_loop_and_is_503_when_a_loop_has_died():
    app = FastAPI()
    app.state.loops = Loops()
    install_common_routes(app, "test")
    failing = asyncio.Event()

    async def broken_pass():
        failing.set()
        raise RuntimeError("database is down")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        async with app.state.loops.supervised("projector", broken_pass, every_seconds=0.01) as state:
            await asyncio.wait_for(failing.wait(), timeout=5)
            await asyncio.sleep(0.05)
            health = await http.get("/healthz")
            assert health.status_code == 200  # alive, failing: a dependency outage is not a dead process
            loop = health.json()["loops"]["projector"]
            assert loop["state"] == "failing" and loop["failures"] >= 1 and "database is down" in loop["last_error"]

            state.task.cancel()  # what only a bug could do: the loop's task is gone
            await asyncio.gather(state.task, return_exceptions=True)
            dead = await http.get("/healthz")
            assert dead.status_code == 503 and dead.json()["status"] == "unhealthy"
            assert dead.json()["loops"]["projector"]["state"] == "dead"
