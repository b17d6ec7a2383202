"""The worker: runs ComplaintWorkflow and its activities and assigns queued complaints, as a
process of its own apart from the staff API, so that workers scale on their own. It answers
/healthz (and /metrics) on `worker_port`. The workflows' outbox goes to notify from the staff
API's process (services/workflow/outbox.py), not from here: a timer storm waits for this
process's Python, one activation at a time, and nothing else should take its turns.

    python -m services.workflow.worker
"""

import py_compile
import sys
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from temporalio.client import Client
from temporalio.worker import Worker

from services.common.codec_server import install_codec_server
from services.common.deadlines.policy import PolicyError, available_policies, load_policy
from services.common.http_client import http_client
from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers
from services.common.settings import get_settings
from services.common.telemetry import instrument_http_client
from services.common.temporal import connect
from services.workflow import inbox
from services.workflow.activities import ComplaintActivities
from services.workflow.contract import ComplaintClient
from services.workflow.erasure.activities import ErasureActivities
from services.workflow.erasure.workflow import CustomerErasureWorkflow
from services.workflow.eventstore import EventStore
from services.workflow.heap import settle_heap
from services.workflow.routing import Router, assign_queued, load_routing
from services.workflow.sandbox import runner_for
from services.workflow.workflows import ComplaintWorkflow

MIGRATIONS = Path(__file__).parent / "migrations"


def activities_of(activities: ComplaintActivities) -> list[Callable]:
    return [
        activities.record,
        activities.load_policy,
        activities.route_complaint,
        activities.append_events,  # older generations
        activities.send_notification,  # older generations
    ]


def cache_bytecode(workflow_classes: Sequence[type]) -> None:
    """The sandbox imports a workflow's module afresh for every run it starts. With no bytecode
    cache beside the source (PYTHONDONTWRITEBYTECODE, as in our image and on these machines)
    each import compiles the module again: about 9 ms, a tenth of the worker's CPU per complaint.
    Writing the cache once at start makes each import a load of the compiled code."""
    for workflow_class in workflow_classes:
        source = sys.modules[workflow_class.__module__].__file__
        if source is None:
            continue
        try:
            py_compile.compile(source, doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass  # a read-only install: its installer wrote the cache (pip does by default)


WORKFLOWS = [ComplaintWorkflow, CustomerErasureWorkflow]


def erasure_activities_of(activities: ErasureActivities) -> list[Callable]:
    return [
        activities.begin_erasure,
        activities.wait_until_closed,
        activities.erase_complaint,
        activities.finish_erasure,
    ]


def build_worker(client: Client, task_queue: str, activities: Sequence[Callable], **options) -> Worker:
    cache_bytecode(WORKFLOWS)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=list(activities),
        workflow_runner=runner_for(client.data_converter),
        **options,
    )


def check_escalation_roles(router: Router, policy_dir: Path) -> None:
    """Refuse to start when a policy's escalation chain names a role nobody on the roster holds."""
    chains = set()
    for name in available_policies(policy_dir):
        try:
            policy = load_policy(name, policy_dir)
        except PolicyError:
            continue  # a broken file is refused where it is used, and listed by the API
        chains |= {role for tier in policy.tiers.values() for role in tier.escalation_chain}
    router.check_escalation(chains, router.roster_ids)


@asynccontextmanager
async def lifespan(app: FastAPI):
    # The schema is the workflow service's: the worker writes its events and outbox.
    async with (
        service_database("worker", MIGRATIONS, schema="workflow") as (settings, pool),
        http_client(timeout=10, headers=outgoing_headers(settings)) as http,
    ):
        instrument_http_client(http)
        temporal = await connect(settings, sdk_metrics=f"{settings.host}:{settings.worker_sdk_metrics_port}")
        router = Router(pool, load_routing(settings.routing_file))
        await router.load_roster(settings.roster_file)
        check_escalation_roles(router, settings.policy_dir)
        activities = ComplaintActivities(
            EventStore(pool, inbox=inbox.changes_of),
            router,
            http,
            settings.url_of("notify"),
            settings.policy_dir,
        )
        erasure = ErasureActivities(
            activities.event_store, http, settings.url_of("intake"), settings.url_of("notify"), temporal
        )
        complaints = ComplaintClient(temporal, settings.temporal_task_queue)
        loops = app.state.loops
        async with (
            build_worker(
                temporal,
                settings.temporal_task_queue,
                [*activities_of(activities), *erasure_activities_of(erasure)],
                max_cached_workflows=settings.worker_cached_complaints,
            ),
            loops.supervised("queue-assignment", partial(assign_queued, router, complaints), 2.0),
        ):
            settle_heap()
            yield  # leaving the block shuts the worker down gracefully


app = service_app(
    "worker",
    "Complaint workflow worker",
    "Runs the complaints' workflows; health, metrics and the codec server here.",
    lifespan,
)
install_codec_server(app, get_settings())


def main() -> None:
    settings = get_settings()
    # The standard event loop: the one the Temporal SDK is built and tested on.
    uvicorn.run(app, host=settings.host, port=settings.worker_port, loop="asyncio", access_log=False)


if __name__ == "__main__":
    main()
