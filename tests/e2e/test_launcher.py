"""`make run`'s launcher as a user meets it: it prints the URLs, serves, keeps running
complaints across a restart, and Ctrl-C leaves no process behind."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest

from services.run import free_port
from tests.e2e.test_end_to_end import COMPLAINT

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def launch(data_dir: Path, ports: dict[str, int]) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        {
            "COMPLAINTS_DATA_DIR": str(data_dir),
            "COMPLAINTS_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
            "COMPLAINTS_TEMPORAL_UI_PORT": str(ports["ui"]),
            **{
                f"COMPLAINTS_{name.upper()}_PORT": str(ports[name])
                for name in ("intake", "workflow", "notify", "reporting", "worker")
            },
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "services.run"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = []
    deadline = time.monotonic() + 120
    for line in process.stdout:
        banner.append(line)
        if "Press Ctrl-C" in line or time.monotonic() > deadline:
            break
    assert "Press Ctrl-C" in "".join(banner), "".join(banner)
    return process, "".join(banner)


def process_tree(root: psutil.Process, data_dir: Path) -> list[psutil.Process]:
    """Everything the launcher started, including PostgreSQL (which pg_ctl daemonises)."""
    tree = [root, *root.children(recursive=True)]
    postmaster_pid = int((data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(postmaster_pid)
    return tree + [postmaster, *postmaster.children(recursive=True)]


def ctrl_c(process: subprocess.Popen, started: list[psutil.Process]) -> None:
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    gone, alive = psutil.wait_procs(started, timeout=15)
    assert not [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE], alive


def test_run_prints_urls_keeps_complaints_across_restart_and_stops_cleanly(tmp_path):
    ports = {name: free_port() for name in ("temporal", "ui", "intake", "workflow", "notify", "reporting", "worker")}
    process, banner = launch(tmp_path, ports)
    started = process_tree(psutil.Process(process.pid), tmp_path)
    for name in ("intake", "workflow", "notify", "reporting"):
        assert f"http://127.0.0.1:{ports[name]}/docs" in banner
    assert f"http://127.0.0.1:{ports['ui']}" in banner
    assert f"http://127.0.0.1:{ports['worker']}   health: /healthz" in banner
    assert len([p for p in started if "uvicorn" in " ".join(p.cmdline())]) == 5  # four services and the worker
    assert httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10).status_code == 200

    key = (tmp_path / "channel-key.txt").read_text().strip()
    assert key in banner  # the banner shows the local channel key
    accepted = httpx.post(
        f"http://127.0.0.1:{ports['intake']}/v1/complaints",
        json=COMPLAINT,
        headers={"Idempotency-Key": str(uuid.uuid4()), "Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert accepted.status_code == 202
    complaint_id = accepted.json()["complaint_id"]
    staff = f"http://127.0.0.1:{ports['workflow']}/v1/complaints/{complaint_id}"
    assert "staff-demo-password.txt" in banner  # how to sign in as each role
    as_manager = _sign_in(ports, tmp_path, "wang.fang")
    _wait_for_stage(staff, "assigned", as_manager)
    ctrl_c(process, started)

    # Same data folder: the complaint is still running and can be acted on.
    process, _ = launch(tmp_path, ports)
    started = process_tree(psutil.Process(process.pid), tmp_path)
    try:
        acked = httpx.post(f"{staff}/acknowledge", headers=as_manager, timeout=30)  # still signed in
        assert acked.status_code == 200, acked.text
        assert acked.json()["history"][0]["type"] == "ComplaintReceived"
    finally:
        ctrl_c(process, started)


def _sign_in(ports: dict[str, int], data_dir: Path, staff_id: str) -> dict[str, str]:
    password = (data_dir / "staff-demo-password.txt").read_text().strip()
    signed_in = httpx.post(
        f"http://127.0.0.1:{ports['workflow']}/v1/auth/token",
        json={"staff_id": staff_id, "password": password},
        timeout=30,
    )
    assert signed_in.status_code == 200, signed_in.text
    return {"Authorization": f"Bearer {signed_in.json()['access_token']}"}


def _wait_for_stage(url: str, stage: str, headers: dict[str, str]) -> None:
    for _ in range(150):
        if httpx.get(url, headers=headers, timeout=10).json().get("stage") == stage:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} never reached {stage}")
