"""The consumer's and the relay's reconnect loop: a lost connection is dropped without a handshake
and replaced after a pause that doubles up to ten seconds, and a stop ends it at once."""

from __future__ import annotations

import logging
import threading

from services.common import reconnect
from services.common.config import Settings

log = logging.getLogger("test")
SETTINGS = Settings.load("audit", {"BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/x"})


class Stop(threading.Event):
    """Records each pause instead of waiting, and is set after ``pauses`` of them."""

    def __init__(self, pauses: int):
        super().__init__()
        self.pauses: list[float] = []
        self.left = pauses

    def wait(self, timeout=None):
        self.pauses.append(timeout)
        self.left -= 1
        if self.left <= 0:
            self.set()
        return self.is_set()


class FakeConnection:
    def __init__(self):
        self.closed = None

    def collect(self):
        self.closed = "dropped"

    def release(self):
        self.closed = "released"


def test_the_pause_doubles_up_to_ten_seconds_while_the_broker_is_away(monkeypatch, caplog):
    def refuse(_settings):
        raise ConnectionRefusedError("refused")

    monkeypatch.setattr(reconnect, "connect", refuse)
    stop = Stop(pauses=7)
    reconnect.run_connected(SETTINGS, stop, None, log=log, name="relay audit", lost="broker unavailable")
    assert stop.pauses == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert "relay audit: broker unavailable (refused); reconnecting in 0.5s" in caplog.text


def test_a_lost_session_is_dropped_and_the_pause_starts_afresh_once_a_session_opens(monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    connections: list[FakeConnection] = []
    monkeypatch.setattr(reconnect, "connect", lambda _settings: connections.append(FakeConnection()) or connections[-1])
    opened = []

    def open_session(conn, stop):
        opened.append(conn)
        if len(opened) <= 2:
            raise ConnectionResetError("declarations refused")  # before the session runs
        if len(opened) == 3:

            def lost():
                raise ConnectionResetError("gone")

            return lost
        return stop.set  # a session that runs until the stop

    stop = Stop(pauses=10)
    reconnect.run_connected(SETTINGS, stop, open_session, log=log, name="consumer audit", lost="connection lost")
    assert stop.pauses == [0.5, 1.0, 0.5]  # two refused at the declarations; then opened, lost later
    assert [c.closed for c in connections] == ["dropped", "dropped", "dropped", "released"]
    assert caplog.text.count("consumer audit: broker connection restored") == 2
