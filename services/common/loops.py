"""Background loops that cannot die: every loop of every service runs under `supervised`.

A loop is one pass (a coroutine function) repeated: at once again while it finds work, every
`every_seconds` while idle. Any exception a pass raises is logged and the loop goes on after a
backoff: a dependency that is down (`dependencies.unavailable_dependency` says which: it
happens at every start, while the services come up in turn) as one line naming it, a warning
that turns into an error once it has lasted `PERSISTENT_FAILURES` passes; anything else, a bug,
as an error with its traceback. `/healthz` reports each loop (passes, consecutive failures,
last error) and answers 503 if a loop's task has ended, which only a bug in this module could
cause.
"""

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from services.common.dependencies import unavailable_dependency

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
# Consecutive failures for want of a dependency after which they are logged as errors: with the
# backoff, a minute or more of outage, past what a start or a restart of a neighbour takes.
PERSISTENT_FAILURES = 5


@dataclass
class LoopState:
    name: str
    every_seconds: float
    passes: int = 0
    failures: int = 0  # consecutive; 0 after a pass that succeeds
    last_error: str | None = None
    last_pass_at: float | None = None  # time.time() of the last pass that succeeded
    task: asyncio.Task | None = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    def report(self) -> dict:
        return {
            "alive": self.alive,
            "passes": self.passes,
            "failures": self.failures,
            "last_error": self.last_error,
            "last_pass_at": self.last_pass_at,
            "state": "dead" if not self.alive else "failing" if self.failures else "ok",
        }


OnePass = Callable[[], Awaitable[object]]


async def _run(state: LoopState, one_pass: OnePass, wake: asyncio.Event | None) -> None:
    while True:
        try:
            busy = await one_pass()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a loop must survive anything; it says so below
            state.failures += 1
            state.last_error = f"{type(exc).__name__}: {exc}"[:500]
            backoff = min(state.every_seconds * 2 ** min(state.failures, 10), MAX_BACKOFF_SECONDS)
            _log_failure(state, exc, backoff)
            await asyncio.sleep(backoff)
            continue
        if state.failures:
            log.info("background loop recovered", extra={"loop": state.name, "after_failures": state.failures})
        state.passes, state.failures, state.last_pass_at = state.passes + 1, 0, time.time()
        if busy:
            continue
        if wake is None:
            await asyncio.sleep(state.every_seconds)
            continue
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=state.every_seconds)


def _log_failure(state: LoopState, exc: Exception, backoff: float) -> None:
    facts = {"loop": state.name, "failures": state.failures, "retry_in_seconds": backoff}
    dependency = unavailable_dependency(exc)
    if dependency is None:
        log.error("background loop pass failed; retrying", exc_info=exc, extra=facts)
        return
    log.log(
        logging.WARNING if state.failures < PERSISTENT_FAILURES else logging.ERROR,
        "background loop waits for a dependency; retrying",
        extra={**facts, "dependency": dependency, "error": state.last_error},
    )


class Loops:
    """The background loops of one service process (kept on `app.state.loops`)."""

    def __init__(self) -> None:
        self.states: dict[str, LoopState] = {}

    @asynccontextmanager
    async def supervised(
        self,
        name: str,
        one_pass: OnePass,
        every_seconds: float,
        on_stop: Callable[[], Awaitable[object]] | None = None,
        wake: asyncio.Event | None = None,
    ):
        """Run `one_pass` repeatedly for the block's lifetime: again at once while it returns
        something truthy (more work), else after `every_seconds` or as soon as `wake` is set.
        `on_stop` runs once at the end (for example: write down what the loop holds in memory)."""
        state = LoopState(name, every_seconds)
        state.task = asyncio.create_task(_run(state, one_pass, wake), name=f"loop:{name}")
        self.states[name] = state
        try:
            yield state
        finally:
            state.task.cancel()
            await asyncio.gather(state.task, return_exceptions=True)
            if on_stop is not None:
                try:
                    await on_stop()
                except Exception as exc:  # shutting down: log, do not mask the cause
                    log.error("background loop's last step failed", exc_info=exc, extra={"loop": name})

    def healthy(self) -> bool:
        return all(state.alive for state in self.states.values())

    def report(self) -> dict[str, dict]:
        return {name: state.report() for name, state in self.states.items()}
