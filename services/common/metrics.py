"""Prometheus metrics on every service (`GET /metrics`, the operator's token, as Prometheus
sends it with `authorization: credentials_file`): HTTP rate, errors and latency per route
(prometheus-fastapi-instrumentator), each background loop's health, and the gauges a service
registers for what it alone knows (`ServiceGauges`: outbox depth and age, starter backlog,
projection lag, open complaints by stage and tier …), refreshed by a supervised loop.
The worker's Temporal SDK metrics have their own endpoint (services/workflow/worker.py)."""

from collections.abc import Awaitable, Callable

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_fastapi_instrumentator import Instrumentator

from services.common.service_auth import service_caller

LOOP_FAILING = Gauge("service_loop_failing", "1 while a background loop's passes fail", ["service", "loop"])

Refresh = Callable[[], Awaitable[None]]


def install_metrics(app: FastAPI, service: str) -> None:
    Instrumentator(excluded_handlers=["/metrics", "/healthz"]).instrument(app)

    @app.get("/metrics", tags=["ops"], include_in_schema=False, dependencies=[Depends(service_caller("operator"))])
    async def metrics() -> Response:
        loops = getattr(app.state, "loops", None)
        for name, state in (loops.report() if loops else {}).items():
            LOOP_FAILING.labels(service, name).set(0 if state.get("state") == "ok" else 1)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
