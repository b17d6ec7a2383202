"""`make bench` (part 2): intake's throughput and p99 latency against the raw `start_workflow`
throughput of the same dev server, measured in the same run. Intake does more per complaint
(validation, classification, the customer's earlier complaints, the durable insert before the
202, idempotency), so the ratio shows what that costs.

Rounds alternate (raw, intake, raw, intake …) and each starts once the worker has routed every
complaint of the round before, so neither side pays for the other's leftovers."""

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import asyncpg
import httpx

from services.run import LocalSystem, settings_on_free_ports
from services.workflow.domain import Channel, ComplaintInput, Customer
from services.workflow.workflows import ComplaintWorkflow, workflow_id_for
from tests.bench.sla_bench import percentile

BODY = {"channel": "app", "customer": {"name": "Bench", "email": "bench@example.com"},
        "description": "How do I change my password?"}


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by each part of the system (Linux /proc): where a complaint's cost goes."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "uvicorn services." in command:
            part = command.split("uvicorn services.", 1)[1].split(".", 1)[0]
        elif "postgres" in command:
            part = "postgres"
        elif "temporal" in command and "server" in command:
            part = "temporal server"
        else:
            continue
        found[part] = found.get(part, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


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


async def main(count: int, concurrency: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="complaints-intake-bench-") as tmp:
        settings = settings_on_free_ports(Path(tmp), log_level="WARNING", surge_per_minute=10**6,
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
                    # A customer each: one customer again about the same matter would be linked.
                    body = {**BODY, "customer": {"name": "Bench", "email": f"bench-{uuid.uuid4().hex[:12]}@example.com"}}
                    response = await http.post(url, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
                    if response.status_code != 202:
                        raise SystemExit(f"FAIL: intake answered {response.status_code}: {response.text}")

                pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
                started = 0

                async def settle():
                    """Until the worker has routed every complaint started so far."""
                    while await pool.fetchval("SELECT count(*) FROM workflow.events WHERE type = 'Assigned'") \
                            < started:
                        await asyncio.sleep(0.2)

                results = {"raw": ([], []), "intake": ([], [])}
                cpu = {"raw": {}, "intake": {}}
                for round_number in range(rounds + 1):  # round 0 warms both paths up
                    size = 20 if round_number == 0 else count // rounds
                    for name, one in (("raw", raw_start), ("intake", submit)):
                        before = cpu_seconds()
                        rate, latencies = await timed(size, concurrency, one)
                        started += size
                        await settle()
                        if round_number:
                            results[name][0].append(size / rate)
                            results[name][1].extend(latencies)
                            for part, used in cpu_seconds().items():
                                cpu[name][part] = cpu[name].get(part, 0.0) + used - before.get(part, 0.0)
                await pool.close()
                raw_rate, raw_lat = count / sum(results["raw"][0]), results["raw"][1]
                intake_rate, intake_lat = count / sum(results["intake"][0]), results["intake"][1]
            print(f"intake vs raw start_workflow, {count} complaints each in {rounds} alternating rounds,"
                  f" {concurrency} at a time:")
            print(f"  raw start_workflow  {raw_rate:7.1f}/s  p50 {percentile(raw_lat, 50) * 1000:6.1f} ms"
                  f"  p99 {percentile(raw_lat, 99) * 1000:6.1f} ms")
            print(f"  intake POST         {intake_rate:7.1f}/s  p50 {percentile(intake_lat, 50) * 1000:6.1f} ms"
                  f"  p99 {percentile(intake_lat, 99) * 1000:6.1f} ms")
            for name in ("raw", "intake"):
                parts = sorted(cpu[name].items(), key=lambda kv: -kv[1])
                print(f"  CPU ms per complaint, {name:6}: " + ", ".join(
                    f"{part} {used * 1000 / count:.1f}" for part, used in parts if used > 0.005)
                      + f"; total {sum(cpu[name].values()) * 1000 / count:.1f}")
            print(f"  ratio intake/raw throughput {intake_rate / raw_rate:.2f} (target >= 0.9);"
                  f" p99 latency ratio {percentile(intake_lat, 99) / percentile(raw_lat, 99):.2f}")
        finally:
            await system.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.complaints, args.concurrency, args.rounds))
