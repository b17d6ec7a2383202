"""Property-based requests generated from each service's OpenAPI, with the credentials its
callers hold: none may get a 5xx or go unanswered. A system of its own: the fuzzer changes
duty rosters and policies, which no other test may see."""

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from services.run import LocalSystem

pytestmark = pytest.mark.e2e


# Signing out would leave the rest of the run without its credential.
SIGN_OUT = ["--exclude-operation-id", "sign_out_v1_auth_token_delete"]


async def credential_for(system: LocalSystem, service: str, caller: str) -> str:
    if service == "intake" and caller == "channel":  # a key of its own: not another test's rate budget
        return await system.new_channel_key(label="schemathesis")
    if service == "intake":  # what the workflow service asks: erasures, complaints not started yet
        return system.service_tokens["workflow"]
    if caller == "manager":  # staff actions, rosters, policies, reports as a manager signs in for them
        return (await system.staff_headers("wang.fang"))["Authorization"].removeprefix("Bearer ")
    if service == "notify":  # the sender's token may also read the outbox back
        return system.service_tokens["workflow"]
    return system.service_tokens["operator"]  # the event feed, the outbox, the classification feed


@pytest.mark.parametrize(
    "service, caller",
    [("intake", "channel"), ("intake", "workflow"), ("workflow", "operator"), ("workflow", "manager"),
     ("notify", "workflow"), ("reporting", "operator"), ("reporting", "manager")],
)  # fmt: skip
async def test_schemathesis_finds_no_server_error(system, service, caller):
    schemathesis = Path(sys.executable).parent / "schemathesis"
    token = await credential_for(system, service, caller)
    run = await asyncio.to_thread(
        subprocess.run,
        [
            str(schemathesis),
            "run",
            f"{system.settings.url_of(service)}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "20",
            "--workers",
            "1",
            "--seed",
            "7",
            "--no-color",
            "--request-timeout",
            "20",
            "--header",
            f"Authorization: Bearer {token}",
            *(SIGN_OUT if caller == "manager" and service == "workflow" else []),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert summary and summary.group(1) == summary.group(2) and int(summary.group(1)) >= 20, run.stdout[-2000:]
