"""Per-recipient turns on their own: no threads, no database, just the bookkeeping."""

from __future__ import annotations

from datetime import UTC, datetime

from services.notify.channels import Job
from services.notify.turns import Turns

NOW = datetime(2026, 6, 3, 8, 0, tzinfo=UTC)


def job(n: int, recipient: str) -> Job:
    fields = {"event_id": f"e{n}", "event_type": "task.assigned", "channel": "webhook", "body": "{}"}
    return Job(id=f"d{n}", recipient=recipient, attempts=0, now=NOW, **fields)


def ids(jobs) -> list[str]:
    return [j.id for j in jobs]


def test_no_more_than_the_cap_start_at_once_for_one_recipient():
    turns = Turns(per_recipient=2)
    claimed = [job(n, "slow") for n in range(5)] + [job(5, "fast")]
    assert ids(turns.admit(claimed)) == ["d0", "d1", "d5"]
    assert turns.sending() == 3 and turns.waiting()
    # The cap counts the sends already under way, not only the claims admitted together.
    assert turns.admit([job(6, "slow")]) == []


def test_a_finished_send_hands_its_turn_to_the_recipients_next_claim_in_claim_order():
    turns = Turns(per_recipient=1)
    first, *waiting = [job(n, "slow") for n in range(4)]
    assert turns.admit([first, *waiting]) == [first]
    order = []
    running = first
    while (following := turns.finished(running)) is not None:
        order.append(following.id)
        assert turns.sending() == 1, "the turn passes on; it is not freed"
        running = following
    assert order == ["d1", "d2", "d3"]
    assert turns.sending() == 0 and not turns.waiting()


def test_one_recipients_finished_send_does_not_start_anothers_claim():
    turns = Turns(per_recipient=1)
    a0, a1, b0, b1 = job(0, "a"), job(1, "a"), job(2, "b"), job(3, "b")
    assert turns.admit([a0, a1, b0, b1]) == [a0, b0]
    assert turns.finished(b0) == b1
    assert turns.finished(b1) is None
    assert turns.sending() == 1 and turns.waiting(), "a1 still waits for a0"
    assert turns.finished(a0) == a1


def test_a_freed_turn_with_nothing_waiting_lets_the_next_admitted_claim_start():
    turns = Turns(per_recipient=1)
    first = job(0, "r")
    assert turns.admit([first]) == [first]
    assert turns.finished(first) is None
    assert turns.sending() == 0
    later = job(1, "r")
    assert turns.admit([later]) == [later]


def test_closing_hands_the_waiting_claims_back_and_starts_no_more():
    turns = Turns(per_recipient=1)
    claimed = [job(0, "a"), job(1, "a"), job(2, "a"), job(3, "b"), job(4, "b")]
    assert ids(turns.admit(claimed)) == ["d0", "d3"]
    assert ids(turns.close()) == ["d1", "d2", "d4"]
    assert not turns.waiting()
    assert turns.finished(claimed[0]) is None
    assert turns.finished(claimed[3]) is None
    assert turns.sending() == 0
    assert turns.close() == []


def test_a_send_that_could_not_start_frees_its_turn_without_starting_the_next():
    turns = Turns(per_recipient=1)
    first, second = job(0, "r"), job(1, "r")
    assert turns.admit([first, second]) == [first]
    turns.not_started(first)
    assert turns.sending() == 0 and turns.waiting()
