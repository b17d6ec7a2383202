"""`make bench` (part 2): intake's throughput and p99 latency against the raw `start_workflow`
throughput of the same dev server, measured in the same run. Intake does more per complaint
(validation, the durable insert before the 202, idempotency), so the ratio shows what that costs.
"""

import argparse
import asyncio
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx

from services.run import LocalSystem, settings_on_free_ports
from services.workflow.domain import Channel, ComplaintInput, Customer
from services.workflow.workflows import ComplaintWorkflow, workflow_id_for
from tests.bench.sla_bench import percentile

BODY = {"channel": "app", "customer": {"name": "Bench", "email": "bench@example.com"},
        "description": "How do I change my password?"}


async def timed(count: int, concurrency: int, one) -> tuple[float, list[float]]:
    """Run `one()` `count` times, `concurrency` at once; returns (per second, latencies in s)."""
    gate, latencies = asyncio.Semaphore(concurrency), []

    async def run():
        async with gate:
            started = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(run() for _ in range(count)))
    return count / (time.perf_counter() - started), latencies


async def main(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory(prefix="complaints-intake-bench-") as tmp:
        settings = settings_on_free_ports(Path(tmp), log_level="WARNING",
                                          intake_rate_per_minute=10**7, intake_rate_burst=10**6)
        system = LocalSystem(settings)
        await system.start()
        try:
            client, queue = system.temporal.client, settings.temporal_task_queue

            async def raw_start():
                complaint = ComplaintInput(complaint_id=f"R-{uuid.uuid4().hex[:12]}", channel=Channel.app,
                                           received_at=datetime.now(timezone.utc),
                                           customer=Customer(**BODY["customer"]), description=BODY["description"])
                await client.start_workflow(ComplaintWorkflow.run, complaint,
                                            id=workflow_id_for(complaint.complaint_id), task_queue=queue)

            headers = {"Authorization": f"Bearer {system.dev_key}"}
            async with httpx.AsyncClient(timeout=60, headers=headers,
                                         limits=httpx.Limits(max_connections=concurrency)) as http:
                url = f"{settings.url_of('intake')}/v1/complaints"

                async def submit():
                    response = await http.post(url, json=BODY, headers={"Idempotency-Key": str(uuid.uuid4())})
                    if response.status_code != 202:
                        raise SystemExit(f"FAIL: intake answered {response.status_code}: {response.text}")

                await timed(20, concurrency, raw_start)  # warm-up, both paths
                await timed(20, concurrency, submit)
                raw_rate, raw_lat = await timed(count, concurrency, raw_start)
                intake_rate, intake_lat = await timed(count, concurrency, submit)
            print(f"intake vs raw start_workflow, {count} complaints, {concurrency} at a time:")
            print(f"  raw start_workflow  {raw_rate:7.1f}/s  p50 {percentile(raw_lat, 50) * 1000:6.1f} ms"
                  f"  p99 {percentile(raw_lat, 99) * 1000:6.1f} ms")
            print(f"  intake POST         {intake_rate:7.1f}/s  p50 {percentile(intake_lat, 50) * 1000:6.1f} ms"
                  f"  p99 {percentile(intake_lat, 99) * 1000:6.1f} ms")
            print(f"  ratio intake/raw throughput {intake_rate / raw_rate:.2f} (target >= 0.9);"
                  f" p99 latency ratio {percentile(intake_lat, 99) / percentile(raw_lat, 99):.2f}")
        finally:
            await system.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.complaints, args.concurrency))
