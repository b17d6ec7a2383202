"""SLA policy files: the shipped presets carry the sources' numbers; bad files are refused
at load with a message that says where and why."""

import re
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path

import pytest

from services.common.deadlines.policy import POLICY_DIR, PolicyError, available_policies, load_policy, load_policy_file

DEFAULT_TEXT = (POLICY_DIR / "default.toml").read_text(encoding="utf-8")


def test_default_policy_carries_source_000():
    policy = load_policy("default")
    assert policy.source == "000" and policy.ref == "default@v4"
    numbers = {t: (policy.tier(t).first_response.within, policy.tier(t).resolution.within) for t in (1, 2, 3)}
    assert numbers == {
        1: (timedelta(minutes=15), timedelta(hours=24)),
        2: (timedelta(minutes=30), timedelta(hours=24)),
        3: (timedelta(hours=1), timedelta(hours=48)),
    }
    assert all(policy.tier(t).assignment.within == timedelta(hours=2) for t in (1, 2, 3))
    # Source 000's tier-1 "solution within 2 h": a plan the customer is given, its own target.
    assert policy.tier(1).solution_plan.within == timedelta(hours=2)
    assert policy.tier(2).solution_plan is None and policy.tier(3).solution_plan is None
    assert policy.tier(1).progress.every == timedelta(hours=2)
    assert policy.tier(2).progress.daily_by == time(17, 0)
    assert policy.tier(3).progress.once_before_resolution
    # Source 000: a transfer is accepted within 2 h, whatever the tier (003's 2 h / 4 h is a preset's).
    assert {policy.tier(t).transfer_acceptance.within for t in (1, 2, 3)} == {timedelta(hours=2)}
    assert load_policy("preset-001").tier(2).transfer_acceptance.within == timedelta(hours=4)
    # An after-hours complaint of a business tier counts every target from the next working morning.
    assert [policy.tier(t).after_hours_start for t in (1, 2, 3)] == ["at_receipt", *["when_handling_starts"] * 2]
    assert policy.tier(2).feedback.within == timedelta(hours=24)
    assert policy.tier(2).survey_follow_up.within == policy.tier(2).second_follow_up.within == timedelta(hours=48)
    assert policy.tier(1).escalation_chain == ["owner", "group_lead", "department_head", "manager"]


def test_preset_001_carries_source_001():
    policy = load_policy("preset-001")
    numbers = {t: (policy.tier(t).first_response.within, policy.tier(t).resolution.within) for t in (1, 2, 3)}
    assert numbers == {
        1: (timedelta(hours=1), timedelta(hours=24)),
        2: (timedelta(hours=2), timedelta(hours=48)),
        3: (timedelta(hours=4), timedelta(hours=72)),
    }
    assert set(available_policies()) >= {"default", "preset-001"}


def write(tmp_path: Path, text: str, name: str = "default") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace('first_response = "15m"', 'first_response = "soon"'), "tiers.1.first_response"),
        (lambda t: t.replace('first_response = "15m"', 'first_response = "0m"'), "longer than zero"),
        (lambda t: t.replace('timezone = "Asia/Shanghai"', 'timezone = "Mars/Olympus"'), "unknown time zone"),
        (lambda t: t.replace('mon = ["09:00-18:00"]', 'mon = ["18:00-09:00"]'), "ends before it starts"),
        (lambda t: t.replace("warn_at = [0.5, 0.8]", "warn_at = [0.8, 0.5]", 1), "ascending"),
        (
            lambda t: t.replace('solution_plan = "2h"', 'solution_plan = { within = "2h", clock = "business" }'),
            "tier 1 runs around the clock",
        ),
        (lambda t: t[: t.index("[tiers.3]")], "tiers ['3'] are missing"),
        (
            lambda t: t.replace(
                'progress = { every = "2h", escalate_after_reminder = "30m" }',
                'progress = { every = "2h", daily_by = "17:00" }',
            ),
            "exactly one of",
        ),
        (
            lambda t: t.replace(
                'escalate_after_reminder = "30m" }', 'escalate_after_reminder = "30m", once_within = "2h" }'
            ),
            "once_within goes with once_before_resolution",
        ),
        (lambda t: re.sub(r"^version = \d+", "version = 0", t, flags=re.MULTILINE), "version"),
        (lambda t: t.replace('same_day_until = "15:00"', 'same_day_until = "18:00"'), "not after it"),
        (lambda t: t + "\n[[broken", "not valid TOML"),
    ],
)
def test_a_bad_policy_file_is_refused_with_a_clear_message(tmp_path, change, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")) as refused:
        load_policy_file(write(tmp_path, change(DEFAULT_TEXT)))
    assert str(refused.value).startswith("default.toml:")


def test_file_name_and_policy_name_must_agree(tmp_path):
    with pytest.raises(PolicyError, match="file is named 'mine.toml'"):
        load_policy_file(write(tmp_path, DEFAULT_TEXT, name="mine"))


def test_an_organisation_can_write_its_own(tmp_path):
    own = DEFAULT_TEXT.replace('name = "default"', 'name = "acme"').replace(
        'first_response = "15m"', 'first_response = "10m"'
    )
    write(tmp_path, own, name="acme")
    assert load_policy("acme", tmp_path).tier(1).first_response.within == timedelta(minutes=10)
    with pytest.raises(PolicyError, match="not a policy name"):
        load_policy("../etc/passwd", tmp_path)


def test_check_command_reports_good_and_bad_files(tmp_path):
    bad = write(tmp_path, DEFAULT_TEXT.replace('timezone = "Asia/Shanghai"', 'timezone = "Nowhere"'))
    run = subprocess.run(
        [sys.executable, "-m", "services.common.deadlines.policy", "check", str(POLICY_DIR / "default.toml"), str(bad)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "ok: default@v4" in run.stdout and "unknown time zone" in run.stderr
