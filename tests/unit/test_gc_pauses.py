"""The garbage collector: its pauses timed into /metrics on every service, and the worker's
thresholds (services/workflow/heap.py)."""

import gc
import subprocess
import sys

from prometheus_client import REGISTRY

from services.common import metrics
from services.common.metrics import GcPauses, time_gc_pauses


def _family(pauses: GcPauses) -> dict[str, dict[str, float]]:
    family, _ = pauses.collect()
    out: dict[str, dict[str, float]] = {}
    for sample in family.samples:
        labels = sample.labels
        key = sample.name.removeprefix("python_gc_pause_seconds") + labels.get("le", "")
        out.setdefault(labels["generation"], {})[key] = sample.value
    return out


def test_each_collection_is_timed_in_its_generation():
    pauses = GcPauses()
    gc.callbacks.append(pauses)
    try:
        gc.collect(2)
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks.remove(pauses)
    seen = _family(pauses)
    assert seen["2"]["_count"] == 2 and seen["2"]["_bucket+Inf"] == 2
    assert seen["0"]["_count"] >= 1  # (and any young collection the test itself caused)
    assert seen["2"]["_sum"] > 0


def test_a_pause_lands_in_the_first_bucket_that_holds_it(monkeypatch):
    pauses = GcPauses()
    for stopped in (0.0004, 0.3, 7.0):  # seconds after the collection started
        monkeypatch.setattr(metrics.time, "perf_counter", lambda: 100.0)
        pauses("start", {"generation": 2})
        monkeypatch.setattr(metrics.time, "perf_counter", lambda stopped=stopped: 100.0 + stopped)
        pauses("stop", {"generation": 2, "collected": 0, "uncollectable": 0})
    buckets = _family(pauses)["2"]
    assert buckets["_bucket0.001"] == 1  # 0.4 ms
    assert buckets["_bucket0.1"] == 1 and buckets["_bucket0.5"] == 2  # 0.3 s
    assert buckets["_bucket2.5"] == 2 and buckets["_bucket+Inf"] == 3  # 7 s: above every bucket
    assert abs(buckets["_sum"] - 7.3004) < 1e-6


def test_the_timer_is_installed_once_per_process():
    first, second = time_gc_pauses(), time_gc_pauses()
    assert first is second
    assert sum(isinstance(c, GcPauses) for c in gc.callbacks) == 1
    assert REGISTRY.get_sample_value("python_gc_pause_seconds_count", {"generation": "2"}) is not None


def test_the_worker_settles_its_heap_young_collections_rarer_start_up_frozen():
    probe = (
        "import gc; from services.workflow.heap import settle_heap, YOUNG_GENERATION;"
        "before = gc.get_threshold(); settle_heap();"
        "print(before[0], gc.get_threshold()[0], YOUNG_GENERATION, gc.get_freeze_count())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    before, after, wanted, frozen = map(int, out)
    assert before == 700 and after == wanted == 20_000
    assert frozen > 1_000  # the modules and objects loaded at start
