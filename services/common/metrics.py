"""Prometheus metrics on every service (`GET /metrics`, the operator's token, as Prometheus
sends it with `authorization: credentials_file`): HTTP rate, errors and latency per route
(prometheus-fastapi-instrumentator), each background loop's health, each garbage collection's
pause (`GcPauses`), and the gauges a service registers for what it alone knows
(`ServiceGauges`: outbox depth and age, starter backlog, projection lag, open complaints by
stage and tier …), refreshed by a supervised loop. The worker's Temporal SDK metrics have
their own endpoint (services/workflow/worker.py)."""

import bisect
import gc
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_fastapi_instrumentator import Instrumentator

from services.common.service_auth import service_caller

LOOP_FAILING = Gauge("service_loop_failing", "1 while a background loop's passes fail", ["service", "loop"])

Refresh = Callable[[], Awaitable[None]]


def install_metrics(app: FastAPI, service: str) -> None:
    time_gc_pauses()
    Instrumentator(excluded_handlers=["/metrics", "/healthz"]).instrument(app)

    @app.get("/metrics", tags=["ops"], include_in_schema=False, dependencies=[Depends(service_caller("operator"))])
    async def metrics() -> Response:
        loops = getattr(app.state, "loops", None)
        for name, state in (loops.report() if loops else {}).items():
            LOOP_FAILING.labels(service, name).set(0 if state.get("state") == "ok" else 1)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class GcPauses(Collector):
    """How long each garbage collection held this process, by generation, as the histogram
    `python_gc_pause_seconds` (and the thresholds, `python_gc_threshold`): a full collection
    of a large heap stops everything the process does (the worker's deadlines among them), and
    shows here. Timed by `gc.callbacks`, which run inside the collection: so the callback only
    adds to plain lists, never takes a lock that a collecting thread might hold
    (prometheus_client's metrics lock), and the lists are read when Prometheus scrapes."""

    BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

    def __init__(self) -> None:
        self._started = 0.0
        self._counts = [[0] * (len(self.BUCKETS) + 1) for _ in range(3)]  # the last: above every bucket
        self._sums = [0.0] * 3

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause, generation = time.perf_counter() - self._started, info["generation"]
        self._counts[generation][bisect.bisect_left(self.BUCKETS, pause)] += 1
        self._sums[generation] += pause

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily]:
        family = HistogramMetricFamily(
            "python_gc_pause_seconds", "How long each garbage collection held the process", labels=["generation"]
        )
        bounds = [*(str(b) for b in self.BUCKETS), "+Inf"]
        for generation, counts in enumerate(self._counts):
            cumulative = list(itertools.accumulate(counts))
            family.add_metric([str(generation)], list(zip(bounds, cumulative, strict=True)), self._sums[generation])
        yield family
        thresholds = GaugeMetricFamily(
            "python_gc_threshold",
            "The collector's threshold per generation (services/workflow/heap.py sets the worker's)",
            labels=["generation"],
        )
        for generation, threshold in enumerate(gc.get_threshold()):
            thresholds.add_metric([str(generation)], threshold)
        yield thresholds


_gc_pauses: GcPauses | None = None


def time_gc_pauses() -> GcPauses:
    """Once per process: later calls return the same timer."""
    global _gc_pauses
    if _gc_pauses is None:
        _gc_pauses = GcPauses()
        gc.callbacks.append(_gc_pauses)
        REGISTRY.register(_gc_pauses)
    return _gc_pauses
