"""The suite's property tests judge results, never the machine's speed (tests/conftest.py)."""

import time

from hypothesis import given
from hypothesis import strategies as st

_slow_once: list[int] = []


@given(st.integers())
def test_an_example_slow_once_does_not_fail_the_property(n):
    # As a lazy import or a collector's pause makes one example slow on a busy machine: under
    # Hypothesis's default 200 ms deadline this fails, and only on slow runs.
    if not _slow_once:
        _slow_once.append(n)
        time.sleep(0.3)
    assert isinstance(n, int)
