"""The complaint client while the Temporal server is down (services/workflow/contract/client.py),
on a real dev server that is stopped: the first read waits and finds it unreachable, the next
reads and actions answer at once until it is asked again, by one call at a time."""

import asyncio
import time
from datetime import timedelta

import circuitbreaker
import pytest
from temporalio.client import Client, Interceptor, OutboundInterceptor, QueryWorkflowInput
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from services.run import temporal_cli
from services.workflow.contract import (
    WORKFLOW_TYPE,
    ComplaintClient,
    ComplaintNotFound,
    EngineUnavailable,
    StaffAction,
    workflow_id_for,
)
from services.workflow.contract.client import READS_TURNED_AWAY

WAIT = timedelta(seconds=2)


@pytest.fixture
async def stopped_engine():
    """A client connected to a dev server, and a function that stops the server."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), ui=False)
    try:
        yield await Client.connect(env.client.service_client.config.target_host), env.shutdown
    finally:
        await env.shutdown()


async def test_once_the_engine_is_found_unreachable_calls_answer_at_once_until_it_is_asked_again(stopped_engine):
    temporal, stop = stopped_engine
    complaints = ComplaintClient(temporal, recheck_after=timedelta(minutes=10))
    asks_again_soon = ComplaintClient(temporal, recheck_after=timedelta(milliseconds=1))
    with pytest.raises(ComplaintNotFound):  # up: an unknown complaint is not an outage
        await complaints.status("C-0", rpc_timeout=WAIT)
    await stop()

    with pytest.raises(EngineUnavailable) as first:
        await complaints.status("C-1", rpc_timeout=WAIT)
    assert isinstance(first.value.__cause__, RPCError)  # it asked the engine, and waited
    with pytest.raises(EngineUnavailable) as next_read:
        await complaints.status("C-2", rpc_timeout=WAIT)
    assert next_read.value.__cause__ is None  # it did not ask again
    with pytest.raises(EngineUnavailable) as action:  # nor does a staff action: retried with its key
        await complaints.acknowledge("C-2", StaffAction(staff_id="li.na"), key="k-1")
    assert action.value.__cause__ is None

    for complaint_id in ("C-1", "C-2"):  # once its pause is over, a read asks the engine again
        with pytest.raises(EngineUnavailable) as asked:
            await asks_again_soon.status(complaint_id, rpc_timeout=WAIT)
        assert isinstance(asked.value.__cause__, RPCError)
        await asyncio.sleep(0.01)


async def test_a_call_slow_to_answer_asks_the_health_check_and_answers_without_waiting_out_the_sdks_retries(
    stopped_engine,
):
    """The call that finds an outage: the SDK retries a stopped server's calls for about 9 s;
    after SLOW_ANSWER the call asks the health check, which says the server is unreachable."""
    temporal, stop = stopped_engine
    await stop()
    for call in (
        lambda complaints: complaints.status("C-1", rpc_timeout=timedelta(minutes=1)),
        lambda complaints: complaints.acknowledge("C-1", StaffAction(staff_id="li.na"), key="k-1"),
    ):
        with pytest.raises(EngineUnavailable) as found:
            await call(ComplaintClient(temporal))
        assert asked(found.value) and "health check: tcp connect error" in str(found.value)


def asked(outcome: BaseException) -> bool:
    """Whether a call that answered "unavailable" asked the engine (and waited) first."""
    assert isinstance(outcome, EngineUnavailable), outcome
    return isinstance(outcome.__cause__, RPCError)


# Long: it ends when a test lets the breaker's clock pass it, never because a busy machine
# paused this process between two calls.
PAUSE = timedelta(minutes=10)


class PauseClock:
    """The breaker's clock (circuitbreaker reads `monotonic` through its own module): real time,
    plus what the test lets pass."""

    def __init__(self) -> None:
        self.passed = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.passed

    def let_the_pause_pass(self) -> None:
        self.passed += 2 * PAUSE.total_seconds()


@pytest.fixture
def pause_clock(monkeypatch) -> PauseClock:
    clock = PauseClock()
    monkeypatch.setattr(circuitbreaker, "monotonic", clock)
    return clock


async def after_the_pause(complaints: ComplaintClient, clock: PauseClock) -> None:
    """Finds the engine unreachable, then lets the pause pass."""
    with pytest.raises(EngineUnavailable) as first:
        await complaints.status("C-1", rpc_timeout=WAIT)
    assert asked(first.value)
    clock.let_the_pause_pass()


async def test_after_the_pause_one_call_at_a_time_asks_the_engine_again(stopped_engine, pause_clock):
    temporal, stop = stopped_engine
    await stop()
    complaints = ComplaintClient(temporal, recheck_after=PAUSE)
    await after_the_pause(complaints, pause_clock)

    reads = [complaints.status(f"C-{n}", rpc_timeout=WAIT) for n in range(3)]
    outcomes = await asyncio.gather(
        *reads, complaints.acknowledge("C-9", StaffAction(staff_id="li.na")), return_exceptions=True
    )
    assert [asked(outcome) for outcome in outcomes] == [True, False, False, False]

    # Its answer (unreachable again) starts another pause; after it, one asks again.
    with pytest.raises(EngineUnavailable) as during:
        await complaints.status("C-4", rpc_timeout=WAIT)
    assert not asked(during.value)
    pause_clock.let_the_pause_pass()
    with pytest.raises(EngineUnavailable) as later:
        await complaints.status("C-5", rpc_timeout=WAIT)
    assert asked(later.value)


async def test_a_call_given_up_on_says_nothing_of_the_engine(stopped_engine, pause_clock):
    temporal, stop = stopped_engine
    await stop()
    complaints = ComplaintClient(temporal, recheck_after=PAUSE)
    await after_the_pause(complaints, pause_clock)

    asking = asyncio.create_task(complaints.status("C-2", rpc_timeout=WAIT))
    await asyncio.sleep(0)  # it starts, and asks
    with pytest.raises(EngineUnavailable) as meanwhile:
        await complaints.status("C-3", rpc_timeout=WAIT)
    assert not asked(meanwhile.value)
    asking.cancel()  # its caller went away: the engine is no more reachable than it was
    with pytest.raises(asyncio.CancelledError):
        await asking

    outcomes = await asyncio.gather(
        *(complaints.status(f"C-{n}", rpc_timeout=WAIT) for n in (4, 5)), return_exceptions=True
    )
    assert [asked(outcome) for outcome in outcomes] == [True, False]


async def test_past_its_reads_in_flight_a_read_is_answered_at_once_without_asking(stopped_engine):
    """A worker that has fallen behind (here: none polls the complaint's queue, so every read
    waits out its timeout): the reads already waiting keep waiting, and the next ones answer
    "unavailable" at once instead of queueing behind them."""
    temporal, _ = stopped_engine
    await temporal.start_workflow(WORKFLOW_TYPE, id=workflow_id_for("C-1"), task_queue="no-worker-polls")
    complaints = ComplaintClient(temporal, task_queue="no-worker-polls", reads_in_flight=2)
    waiting = [asyncio.create_task(complaints.status("C-1", rpc_timeout=WAIT)) for _ in range(2)]
    while complaints.reads_in_flight < 2:
        await asyncio.sleep(0)
    turned_away_before = READS_TURNED_AWAY._value.get()

    with pytest.raises(EngineUnavailable) as turned_away:
        await complaints.status("C-1", rpc_timeout=WAIT)
    assert not asked(turned_away.value)
    assert not any(read.done() for read in waiting)  # still waiting for the engine
    assert READS_TURNED_AWAY._value.get() == turned_away_before + 1

    for read in asyncio.as_completed(waiting):  # no answer within their timeout: asked, and waited
        with pytest.raises(EngineUnavailable) as timed_out:
            await read
        assert asked(timed_out.value)
    assert complaints.reads_in_flight == 0
    with pytest.raises(EngineUnavailable) as asked_again:  # room again: the next read asks
        await complaints.status("C-1", rpc_timeout=timedelta(milliseconds=300))
    assert asked(asked_again.value)


class CountsQueries(Interceptor):
    """Counts the queries a client sends to the engine."""

    def __init__(self) -> None:
        self.sent = 0

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        counter = self

        class Counting(OutboundInterceptor):
            async def query_workflow(self, input: QueryWorkflowInput):
                counter.sent += 1
                return await super().query_workflow(input)

        return Counting(next)


async def test_the_call_that_asks_again_asks_the_health_check_first_and_goes_on_once_it_answers(pause_clock):
    """A query to a stopped server waits while the SDK retries it (about 9 s): the call that
    asks again after the pause asks the health check first, which answers at once. Refused, it
    sends no query; once the server is back, the call goes on and gets the real answer."""
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli(), ui=False)
    target = env.client.service_client.config.target_host
    queries = CountsQueries()
    temporal = await Client.connect(target, interceptors=[queries])
    complaints = ComplaintClient(temporal, recheck_after=PAUSE)
    await env.shutdown()
    await after_the_pause(complaints, pause_clock)
    assert queries.sent == 1  # the first call found the server unreachable by its query

    with pytest.raises(EngineUnavailable) as refused:
        await complaints.status("C-2", rpc_timeout=timedelta(minutes=1))
    assert asked(refused.value) and queries.sent == 1  # the health check said so: no query waited

    back = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(), ui=False, port=int(target.rsplit(":", 1)[1])
    )
    try:
        pause_clock.let_the_pause_pass()
        with pytest.raises(ComplaintNotFound):  # the health check answered; the query went on
            await complaints.status("C-3", rpc_timeout=WAIT)
        assert queries.sent == 2
        with pytest.raises(ComplaintNotFound):  # closed again: every call asks
            await complaints.status("C-4", rpc_timeout=WAIT)
        assert queries.sent == 3
    finally:
        await back.shutdown()
