"""Background loops survive any exception, say so in the logs and in /healthz, and recover."""

import asyncio
import logging

import httpx
from fastapi import FastAPI
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError

from services.common.loops import PERSISTENT_FAILURES, Loops
from services.common.web import install_common_routes


async def test_a_pass_that_raises_anything_is_logged_and_the_loop_goes_on(caplog):
    calls = []

    async def one_pass():
        calls.append(len(calls))
        if len(calls) <= 2:  # what ended intake's starter for good: not an OSError nor a database error
            raise WorkflowUpdateRPCTimeoutOrCancelledError()
        return None

    loops = Loops()
    with caplog.at_level(logging.INFO, logger="services.common.loops"):
        async with loops.supervised("starter", one_pass, every_seconds=0.01) as state:
            for _ in range(500):
                if state.passes >= 2:
                    break
                await asyncio.sleep(0.01)
    assert state.passes >= 2 and state.failures == 0 and len(calls) >= 4
    assert "WorkflowUpdateRPCTimeoutOrCancelledError" in (state.last_error or "")
    said = [r.getMessage() for r in caplog.records if r.name == "services.common.loops"]
    assert said == ["background loop waits for a dependency; retrying"] * 2 + ["background loop recovered"]


async def passes_of(one_pass, caplog, wanted_failures: int) -> list[logging.LogRecord]:
    """The loop's log records until it has failed `wanted_failures` times in a row."""
    loops = Loops()
    with caplog.at_level(logging.INFO, logger="services.common.loops"):
        async with loops.supervised("projector", one_pass, every_seconds=0.0001) as state:
            for _ in range(2000):
                if state.failures >= wanted_failures:
                    break
                await asyncio.sleep(0.005)
    assert state.failures >= wanted_failures
    return [r for r in caplog.records if r.name == "services.common.loops"]


async def test_a_dependency_that_is_down_is_one_line_a_warning_then_an_error_once_it_lasts(caplog):
    """Every start has a few: a service's loop polls a neighbour that is not up yet."""

    async def one_pass():
        request = httpx.Request("GET", "http://127.0.0.1:1/v1/events")
        raise httpx.ConnectError("All connection attempts failed", request=request)

    records = await passes_of(one_pass, caplog, PERSISTENT_FAILURES + 1)
    waits = [r for r in records if r.getMessage() == "background loop waits for a dependency; retrying"]
    assert [r.levelno for r in waits[: PERSISTENT_FAILURES + 1]] == [logging.WARNING] * (PERSISTENT_FAILURES - 1) + [
        logging.ERROR
    ] * 2
    assert all(r.exc_info is None for r in waits)  # one line each, not a traceback
    assert waits[0].dependency == "a service this one calls" and "ConnectError" in waits[0].error


async def test_a_bug_in_a_pass_is_an_error_with_its_traceback_from_the_first(caplog):
    async def one_pass():
        raise KeyError("projection_state")

    records = await passes_of(one_pass, caplog, 1)
    bugs = [r for r in records if r.getMessage() == "background loop pass failed; retrying"]
    assert bugs[0].levelno == logging.ERROR and bugs[0].exc_info is not None


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
