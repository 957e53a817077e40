"""The retry policy on its own: each way an attempt can end, against the default schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notify.retries import next_attempt

NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)
# WHISTLE_NOTIFY_BACKOFF's default: 0s,5s,30s,5m,30m.
BACKOFF = tuple(timedelta(seconds=s) for s in (0, 5, 30, 300, 1800))


@pytest.mark.parametrize("attempts", [1, 3, 5])
def test_a_successful_attempt_is_sent_with_nothing_due(attempts):
    assert next_attempt(attempts, BACKOFF, NOW, failed=False) == ("sent", None)


def test_success_wins_over_a_permanent_flag():
    assert next_attempt(1, BACKOFF, NOW, failed=False, permanent=True) == ("sent", None)


@pytest.mark.parametrize(("attempts", "delay"), [(1, 5), (2, 30), (3, 300), (4, 1800)])
def test_a_failed_attempt_is_tried_again_after_the_next_step_of_the_schedule(attempts, delay):
    assert next_attempt(attempts, BACKOFF, NOW, failed=True) == ("pending", NOW + timedelta(seconds=delay))


def test_the_last_attempt_failing_fails_the_delivery():
    assert next_attempt(len(BACKOFF), BACKOFF, NOW, failed=True) == ("failed", None)
    assert next_attempt(len(BACKOFF) + 1, BACKOFF, NOW, failed=True) == ("failed", None)


@pytest.mark.parametrize("attempts", [1, 2, 4])
def test_a_permanent_error_fails_the_delivery_at_once(attempts):
    assert next_attempt(attempts, BACKOFF, NOW, failed=True, permanent=True) == ("failed", None)


def test_a_schedule_of_one_attempt_never_retries():
    assert next_attempt(1, (timedelta(0),), NOW, failed=True) == ("failed", None)
