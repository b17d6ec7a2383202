"""`make bench` (part 2): intake's throughput and p99 latency against the raw `start_workflow`
throughput of the same dev server, measured in the same run. Intake does more per complaint
(validation, classification, the customer's earlier complaints, the durable insert before the
202, idempotency), so the ratio shows what that costs.

Both sides start the same complaint records: texts from the labelled set (every tier and type,
Chinese and English), each from a customer of its own. The raw side starts the record intake would
build (classified), through the same client and the same start call, inside a trace span as intake
does, so the workflows do the same work and the ratio shows what intake itself costs. Batch
incidents are off: the labelled texts share causes by design, and the incidents they would open
link their members in the workflows, work the raw side never does.

The load generator stands for the channel adapters, which run on machines of their own, yet here
it shares the cores with the system. So it takes as little CPU as it can: requests are encoded
before the clock starts and written to keep-alive connections as bytes (about 0.6 ms a request
against aiohttp's 2–3 ms, which was as much as a fifth of what intake itself spends).

Rounds come in pairs, one round of each side, and each starts once the worker has routed every
complaint of the round before, so neither side pays for the other's leftovers. The side that goes
first alternates from pair to pair (raw, intake, intake, raw, …), so neither gains from going
first. These machines' speed drifts by ±20 % within minutes, which moves a single round's ratio
as much, so each ratio is printed three ways: the ratio of the totals, the median of the pairs'
ratios with its quartiles (a pair hit by a slow spell does not move it), and each pair's ratio.

Three throughputs are printed for each side:
- sustained: complaints taken all the way in (started and routed to a handler) per second, from
  the first request until the worker has routed the last one, every part sharing the cores: the
  rate the whole system keeps up;
- burst: complaints answered per second while a round is being sent, the worker running, every
  part sharing the cores. The server then also runs on the CPU that intake and PostgreSQL need on
  the intake side, so on a small machine this ratio mostly shows CPU sharing (the CPU per complaint
  of each part is printed to show it);
- start capacity on the same server budget: as burst, but with the Temporal server alone on one
  core and everything else (intake, PostgreSQL, the load generator) on the other, the worker
  paused while sending: what intake costs in front of a server with the same resources on both
  sides, as in a deployment where they do not share machines."""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
from opentelemetry import trace

from services.common.telemetry import configure_tracing
from services.common.temporal import connect
from services.intake.classification import load_rules
from services.intake.submissions import ComplaintSubmission
from services.run import LocalSystem, settings_on_free_ports
from services.workflow.contract import ComplaintClient, ComplaintInput
from tests.bench.sla_bench import percentile

EXAMPLES_FILE = Path(__file__).parents[2] / "services" / "intake" / "classification_examples.jsonl"
TEXTS = [json.loads(line)["text"] for line in EXAMPLES_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]


def new_body(number: int) -> dict:
    """The next text of the mix, from a customer of its own (one customer again would be a repeat)."""
    return {
        "channel": "app",
        "description": TEXTS[number % len(TEXTS)],
        "customer": {"name": "Bench", "email": f"bench-{uuid.uuid4().hex[:12]}@example.com"},
    }


def system_processes() -> list[tuple[str, int, str]]:
    """(part, pid, /proc stat line) of each process of the system and of this bench (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            line = stat.read_text()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if stat.parent.name == str(os.getpid()):
            part = "bench client"
        elif "uvicorn services." in command:
            part = command.split("uvicorn services.", 1)[1].split(".", 1)[0]
        elif "postgres" in command:
            part = "postgres"
        elif "temporal" in command and "server" in command:
            part = "temporal server"
        else:
            continue
        found.append((part, int(stat.parent.name), line))
    return found


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by each part of the system: where a complaint's cost goes."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for part, _, line in system_processes():
        fields = line.rsplit(")", 1)[1].split()
        found[part] = found.get(part, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return found


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process (Go and Rust runtimes run many); new threads inherit it."""
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except OSError:
            pass  # the thread ended meanwhile


def add_cpu_since(before: dict[str, float], totals: dict[str, float]) -> None:
    """Add to `totals` the CPU each part has used since the `before` reading of cpu_seconds()."""
    for part, used in cpu_seconds().items():
        totals[part] = totals.get(part, 0.0) + used - before.get(part, 0.0)


@contextlib.contextmanager
def server_on_a_core_of_its_own():
    """The same server budget for both sides: the Temporal server alone on CPU 0, everything else
    (intake, PostgreSQL, the load generator) on CPU 1, the worker paused so it takes neither.
    Sharing all cores instead, the raw side's server runs on the CPU that intake needs on its side."""
    processes = system_processes()
    workers = [pid for part, pid, _ in processes if part == "workflow"]
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        for part, pid, _ in processes:
            pin(pid, {0} if part == "temporal server" else {1})
        yield
    finally:
        for _, pid, _ in system_processes():
            pin(pid, set(range(os.cpu_count())))
        for pid in workers:
            os.kill(pid, signal.SIGCONT)


def print_cpu(cpu: dict[str, dict[str, float]], count: int) -> None:
    """The CPU each part spent per complaint, for each side."""
    for name in ("raw", "intake"):
        parts = sorted(cpu[name].items(), key=lambda kv: -kv[1])
        print(
            f"  CPU ms per complaint, {name:6}: "
            + ", ".join(f"{part} {used * 1000 / count:.1f}" for part, used in parts if used > 0.005)
            + f"; total {sum(cpu[name].values()) * 1000 / count:.1f}"
        )


def p50_p99(latencies: list[float]) -> str:
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"


def in_turn(sides: tuple, round_number: int) -> tuple:
    """Both sides, the first one alternating from round to round."""
    return sides if round_number % 2 == 0 else sides[::-1]


def ratios(raw_seconds: list[float], intake_seconds: list[float]) -> str:
    """Intake's throughput over raw's, from the seconds each round took: of the totals, the median
    and quartiles of the rounds (pairs of the same texts), and each round's."""
    each = [raw / intake for raw, intake in zip(raw_seconds, intake_seconds, strict=True)]
    low, median, high = statistics.quantiles(each, n=4) if len(each) > 1 else each * 3
    return (
        f"{sum(raw_seconds) / sum(intake_seconds):.2f} of the totals, median of rounds {median:.2f}"
        f" (quartiles {low:.2f}–{high:.2f}; rounds: {' '.join(f'{r:.2f}' for r in each)})"
    )


def http_post(host: str, path: str, headers: dict[str, str], body: dict) -> bytes:
    """One HTTP/1.1 request as bytes, on a keep-alive connection."""
    content = json.dumps(body).encode()
    head = "".join(
        f"{name}: {value}\r\n"
        for name, value in {
            **headers,
            "Host": host,
            "Content-Type": "application/json",
            "Content-Length": len(content),
        }.items()
    )
    return f"POST {path} HTTP/1.1\r\n{head}\r\n".encode() + content


class KeepAliveConnections:
    """`size` keep-alive connections to one server; `send` writes an encoded request on a free one
    (opened again if the server closed it) and returns the status and body of the answer, which
    must carry a Content-Length."""

    def __init__(self, host: str, port: int, size: int):
        self.host, self.port, self.size, self.free = host, port, size, asyncio.Queue()

    async def __aenter__(self):
        for _ in range(self.size):
            self.free.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *_):
        while not self.free.empty():
            self.free.get_nowait()[1].close()

    async def send(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = connection = await self.free.get()
        try:
            if reader.at_eof():  # closed by the server while idle (uvicorn: after 5 s), between rounds
                raise asyncio.IncompleteReadError(b"", None)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as closed:
            if closed.partial:
                raise
            # Closed while idle, perhaps as this request went out: send it again on a new connection
            # (the same Idempotency-Key, so it is the same complaint if the first one arrived).
            writer.close()
            reader, writer = connection = await asyncio.open_connection(self.host, self.port)
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        body = await reader.readexactly(length)
        self.free.put_nowait(connection)
        return int(head.split(b" ", 2)[1]), body


async def timed(items: list, concurrency: int, one) -> tuple[float, list[float]]:
    """Run `one(item)` for each item, `concurrency` at once; returns (per second, latencies in s)."""
    gate, latencies, count = asyncio.Semaphore(concurrency), [], len(items)

    async def run(item):
        async with gate:
            started = time.perf_counter()
            await one(item)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(run(item) for item in items))
    return count / (time.perf_counter() - started), latencies


async def main(count: int, concurrency: int, rounds: int) -> None:
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="complaints-intake-bench-") as tmp:
        settings = settings_on_free_ports(
            Path(tmp),
            log_level="WARNING",
            surge_per_minute=10**6,
            batch_min_customers=10**6,
            intake_rate_per_minute=10**7,
            intake_rate_burst=10**6,
        )
        async with LocalSystem(settings) as system:
            # The client every service uses (pydantic payloads, tracing), as intake's own.
            complaints = ComplaintClient(await connect(settings), settings.temporal_task_queue)

            rules = load_rules()

            def record_as_intake_builds_it(number: int) -> ComplaintInput:
                submission = ComplaintSubmission.model_validate(new_body(number))
                return ComplaintInput(
                    complaint_id=f"R-{uuid.uuid4().hex[:12]}",
                    received_at=datetime.now(UTC),
                    status_url=f"{settings.url_of('intake')}/track/raw",
                    policy=settings.default_policy,
                    classification=rules.classify(submission.facts()),
                    **submission.model_dump(),
                )

            # Intake starts each workflow inside its request's trace, so the worker traces the run;
            # a start with no trace context leaves the worker's spans out (about 3 ms of its CPU a
            # complaint). The raw side starts inside a span of its own to do the same work.
            configure_tracing("bench", settings)
            tracer = trace.get_tracer("intake-bench")

            async def raw_start(complaint: ComplaintInput):
                with tracer.start_as_current_span("raw start_workflow"):
                    await complaints.start(complaint)  # intake's own start call

            async with KeepAliveConnections(settings.host, settings.intake_port, concurrency) as http:

                def intake_request(number: int) -> bytes:
                    headers = {"Authorization": f"Bearer {system.dev_key}", "Idempotency-Key": str(uuid.uuid4())}
                    return http_post(
                        f"{settings.host}:{settings.intake_port}", "/v1/complaints", headers, new_body(number)
                    )

                async def submit(request: bytes):
                    status, answer = await asyncio.wait_for(http.send(request), timeout=60)
                    if status != 202:
                        raise SystemExit(f"FAIL: intake answered {status}: {answer.decode(errors='replace')}")

                pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=1)
                started = 0

                async def settle():
                    """Until the worker has routed every complaint started so far."""
                    while await pool.fetchval("SELECT count(*) FROM workflow.events WHERE type = 'Assigned'") < started:
                        await asyncio.sleep(0.05)

                # per side: burst seconds, sustained seconds (each per round), latencies
                results = {"raw": ([], [], []), "intake": ([], [], [])}
                cpu = {"raw": {}, "intake": {}}
                busy_while_sending = {"raw": 0.0, "intake": 0.0}  # CPU seconds of all parts
                sides = (("raw", raw_start, record_as_intake_builds_it), ("intake", submit, intake_request))
                for round_number in range(rounds + 1):  # round 0 warms both paths up
                    size = 20 if round_number == 0 else count // rounds
                    first_text = started // 2  # both sides of a round send the same texts
                    for name, one, make in in_turn(sides, round_number):
                        items = [make(first_text + n) for n in range(size)]  # built before the clock starts
                        before, began = cpu_seconds(), time.perf_counter()
                        rate, latencies = await timed(items, concurrency, one)
                        sent = cpu_seconds()
                        started += size
                        await settle()
                        if round_number:
                            results[name][0].append(size / rate)
                            results[name][1].append(time.perf_counter() - began)
                            results[name][2].extend(latencies)
                            add_cpu_since(before, cpu[name])
                            busy_while_sending[name] += sum(sent.values()) - sum(before.values())

                # Start capacity on the same server budget: seconds per round and latencies per side.
                capacity = {"raw": ([], []), "intake": ([], [])}
                capacity_cpu = {"raw": {}, "intake": {}}  # CPU seconds of each part while sending
                for round_number in range(rounds if cores >= 2 else 0):
                    size, first_text = count // rounds, started // 2
                    for name, one, make in in_turn(sides, round_number):
                        items = [make(first_text + n) for n in range(size)]
                        with server_on_a_core_of_its_own():
                            before = cpu_seconds()
                            rate, latencies = await timed(items, concurrency, one)
                            add_cpu_since(before, capacity_cpu[name])
                        started += size
                        await settle()
                        capacity[name][0].append(size / rate)
                        capacity[name][1].extend(latencies)
                await pool.close()
            print(
                f"intake vs raw start_workflow, {count} complaints each in {rounds} alternating rounds,"
                f" {concurrency} at a time, all parts sharing the cores, the worker running:"
            )
            for name, label in (("raw", "raw start_workflow"), ("intake", "intake POST")):
                burst, sustained, latencies = results[name]
                print(
                    f"  {label:18}  burst {count / sum(burst):6.1f}/s  sustained {count / sum(sustained):5.1f}/s"
                    f"  {p50_p99(latencies)}"
                )
            print_cpu(cpu, count)
            (raw_burst, raw_sustained, raw_lat), (in_burst, in_sustained, in_lat) = results["raw"], results["intake"]
            print(
                f"  CPU busy while sending, of {cores} cores: raw"
                f" {busy_while_sending['raw'] / (sum(raw_burst) * cores):.0%},"
                f" intake {busy_while_sending['intake'] / (sum(in_burst) * cores):.0%}"
            )

            print(f"  ratio intake/raw sustained throughput {ratios(raw_sustained, in_sustained)} (target >= 0.9)")
            print(
                f"  ratio intake/raw burst throughput {ratios(raw_burst, in_burst)};"
                f" p99 latency ratio {percentile(in_lat, 99) / percentile(raw_lat, 99):.2f}"
            )
            (raw_seconds, raw_lat), (in_seconds, in_lat) = capacity["raw"], capacity["intake"]
            if not raw_seconds:
                print("start capacity on the same server budget: skipped, it needs two cores")
                return
            print(
                f"start capacity on the same server budget, {rounds} alternating rounds: the Temporal server"
                f" alone on CPU 0; intake, PostgreSQL and the load generator on CPU 1; the worker paused:"
            )
            for label, seconds, latencies in (
                ("raw start_workflow", raw_seconds, raw_lat),
                ("intake POST", in_seconds, in_lat),
            ):
                print(f"  {label:18}  {count / sum(seconds):6.1f}/s  {p50_p99(latencies)}")
            print_cpu(capacity_cpu, count)
            print(
                f"  ratio intake/raw start throughput {ratios(raw_seconds, in_seconds)} (target >= 0.9);"
                f" p99 latency ratio {percentile(in_lat, 99) / percentile(raw_lat, 99):.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--complaints", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.complaints, args.concurrency, args.rounds))
