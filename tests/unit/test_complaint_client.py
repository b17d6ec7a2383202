"""The complaint client while the Temporal server is down (services/workflow/contract/client.py),
on a real dev server that is stopped: the first read waits and finds it unreachable, the next
reads and actions answer at once until it is asked again, by one call at a time."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from services.run import temporal_cli
from services.workflow.contract import ComplaintClient, ComplaintNotFound, EngineUnavailable, StaffAction

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


def asked(outcome: BaseException) -> bool:
    """Whether a call that answered "unavailable" asked the engine (and waited) first."""
    assert isinstance(outcome, EngineUnavailable), outcome
    return isinstance(outcome.__cause__, RPCError)


PAUSE = timedelta(milliseconds=200)


async def after_the_pause(complaints: ComplaintClient) -> None:
    """Finds the engine unreachable, then lets the pause pass."""
    with pytest.raises(EngineUnavailable) as first:
        await complaints.status("C-1", rpc_timeout=WAIT)
    assert asked(first.value)
    await asyncio.sleep(PAUSE.total_seconds() * 2)


async def test_after_the_pause_one_call_at_a_time_asks_the_engine_again(stopped_engine):
    temporal, stop = stopped_engine
    await stop()
    complaints = ComplaintClient(temporal, recheck_after=PAUSE)
    await after_the_pause(complaints)

    reads = [complaints.status(f"C-{n}", rpc_timeout=WAIT) for n in range(3)]
    outcomes = await asyncio.gather(
        *reads, complaints.acknowledge("C-9", StaffAction(staff_id="li.na")), return_exceptions=True
    )
    assert [asked(outcome) for outcome in outcomes] == [True, False, False, False]

    # Its answer (unreachable again) starts another pause; after it, one asks again.
    with pytest.raises(EngineUnavailable) as during:
        await complaints.status("C-4", rpc_timeout=WAIT)
    assert not asked(during.value)
    await asyncio.sleep(PAUSE.total_seconds() * 2)
    with pytest.raises(EngineUnavailable) as later:
        await complaints.status("C-5", rpc_timeout=WAIT)
    assert asked(later.value)


async def test_a_call_given_up_on_says_nothing_of_the_engine(stopped_engine):
    temporal, stop = stopped_engine
    await stop()
    complaints = ComplaintClient(temporal, recheck_after=PAUSE)
    await after_the_pause(complaints)

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
