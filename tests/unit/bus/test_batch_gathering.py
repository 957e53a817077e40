"""How long a consumer lets a batch grow (Consumer._gather): while messages keep coming, up to the
linger; a message that comes alone goes at once. The connection here is a stand-in that delivers
on a schedule; the real broker is in tests/integration."""

from __future__ import annotations

import time

from services.common.config import Settings
from services.common.consumer import GATHER_GAP, Consumer


class ScheduledConnection:
    """Delivers a message into ``buffer`` at each of ``arrivals`` (seconds from now)."""

    def __init__(self, buffer: list, arrivals: list[float]):
        self.buffer, self.start, self.arrivals = buffer, time.monotonic(), list(arrivals)

    def drain_events(self, timeout: float) -> None:
        now = time.monotonic() - self.start
        if self.arrivals and self.arrivals[0] <= now + timeout:
            time.sleep(max(0.0, self.arrivals.pop(0) - now))
            self.buffer.append(object())
            return
        time.sleep(timeout)
        raise TimeoutError

    def heartbeat_check(self) -> None:
        pass


def gather(arrivals: list[float], linger: float, batch_size: int = 50) -> tuple[int, float]:
    settings = Settings.load("audit", {"BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/x",
                                       "BATCH_LINGER": str(linger), "BATCH_SIZE": str(batch_size)})
    buffer = [object()]  # the batch's first message
    conn = ScheduledConnection(buffer, arrivals)
    Consumer(settings, sessions=None, inbox=None, outbox=None, handlers={})._gather(conn, buffer)
    return len(buffer), time.monotonic() - conn.start


def test_a_message_that_comes_alone_is_not_held_for_the_linger():
    size, took = gather([], linger=2.0)
    assert size == 1
    assert took < 0.5  # one gap (5 ms), not the 2 s linger


def test_messages_coming_back_to_back_join_the_batch():
    size, _took = gather([0.001 * i for i in range(1, 31)], linger=2.0)
    assert size == 31


def test_a_pause_longer_than_the_gap_ends_the_batch():
    size, _took = gather([0.001, 0.002, 0.003, 0.003 + 20 * GATHER_GAP], linger=2.0)
    assert size == 4


def test_a_steady_stream_is_cut_at_the_linger_and_a_full_batch_goes_at_once():
    size, took = gather([0.002 * i for i in range(1, 500)], linger=0.1)
    assert 10 < size < 100 and took < 0.5
    size, _took = gather([0.001 * i for i in range(1, 500)], linger=2.0, batch_size=20)
    assert size == 20
