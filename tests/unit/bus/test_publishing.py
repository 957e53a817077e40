"""The relay's publisher: a batch leaves in one system call; a confirm that never comes ends the
connection, which is then dropped without a handshake and never reused."""

from __future__ import annotations

import time

import pytest

from services.common.broker import AmqpPublisher, ConfirmTimeout, Outgoing, corked


class FakeTransport:
    def __init__(self):
        self.sent: list[bytes] = []
        self._write = self.sent.append  # as py-amqp's TCP transport: the socket's sendall

    def write(self, data):
        self._write(data)


def test_a_corked_batch_is_written_once_and_the_transport_restored():
    transport = FakeTransport()
    own = transport._write
    shared = bytearray(b"aaaa")
    with corked(transport):
        transport.write(memoryview(shared))
        shared[:] = b"bbbb"  # py-amqp reuses its frame buffer: what was written must be a copy
        transport.write(memoryview(shared))
        assert transport.sent == []
    assert transport.sent == [b"aaaabbbb"]
    assert transport._write == own
    transport.write(b"c")
    assert transport.sent[-1] == b"c"


class SilentBroker:
    """A connection whose broker takes every publish and never confirms it."""

    def __init__(self):
        self.connection = type("AmqpConnection", (), {"transport": FakeTransport()})()
        self.published = 0
        self.collected = self.released = False

    def channel(self):
        broker = self

        class Channel:
            events = {"basic_ack": set(), "basic_nack": set(), "basic_return": set()}

            def confirm_select(self):
                pass

            def basic_publish(self, message, exchange, routing_key, mandatory):
                assert mandatory  # unroutable messages must come back, not vanish
                broker.published += 1

        return Channel()

    def drain_events(self, timeout):
        time.sleep(timeout)
        raise TimeoutError

    def collect(self):
        self.collected = True

    def release(self):
        self.released = True


def test_a_missing_confirm_times_out_and_the_connection_is_dropped_not_reused():
    broker = SilentBroker()
    publisher = AmqpPublisher(broker, confirm_timeout=0.2)
    message = Outgoing("e-1", "case.reported", b"{}", "whistle.events")
    with pytest.raises(ConfirmTimeout):
        publisher.publish_batch([message])
    with pytest.raises(ConfirmTimeout):  # never again on this connection
        publisher.publish_batch([message])
    assert broker.published == 1
    publisher.close()
    assert broker.collected and not broker.released  # no closing handshake on a suspect socket


class AckingBroker(SilentBroker):
    """Confirms every publish at the next read; one sent to ``nowhere`` comes back first, as an
    unroutable ``mandatory`` publish does."""

    def channel(self):
        broker = self
        self.events = {"basic_ack": set(), "basic_nack": set(), "basic_return": set()}
        self.sent = []

        class Channel:
            events = self.events

            def confirm_select(self):
                pass

            def basic_publish(self, message, exchange, routing_key, mandatory):
                broker.sent.append((message, routing_key))

        return Channel()

    def drain_events(self, timeout):
        for message, routing_key in self.sent:
            if routing_key == "nowhere":
                for on_return in self.events["basic_return"]:
                    on_return(Exception("NO_ROUTE"), "", routing_key, message)
        for on_ack in self.events["basic_ack"]:
            on_ack(len(self.sent), True)


def test_a_message_without_an_id_is_confirmed_or_failed_like_any_other():
    """A consumer republishes a failed message as it came, possibly without an id."""
    publisher = AmqpPublisher(AckingBroker(), confirm_timeout=1.0)
    assert publisher.publish_batch([Outgoing(None, "a.events.dlq", b"{}", "")]).confirmed == {None}
    result = publisher.publish_batch([Outgoing(None, "nowhere", b"{}", "")])
    assert (result.confirmed, list(result.failed)) == (set(), [None])
