"""A short soak: twenty seconds of mixed good and bad uploads; every answer as expected, memory bounded."""

from __future__ import annotations

from bench.soak import run_soak
from tests.stack import Stack


def test_a_short_soak_serves_every_request_as_expected_with_bounded_memory(stack: Stack) -> None:
    report = run_soak(stack, seconds=20, concurrency=3)
    assert report.requests > 20, report.to_dict()
    assert report.unexpected == {}, report.outcomes
    assert report.memory_bounded, report.memory
    assert all(peak > 0 for peak in report.peak_rss_mib.values())
