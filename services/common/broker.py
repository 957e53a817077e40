"""Broker connections and publishers.

``AmqpPublisher`` pipelines publisher confirms on the py-amqp channel: it publishes a whole batch
``mandatory``, then drains the acks, nacks and returns (one round trip per batch, not per message).
``MemoryPublisher`` is for the single-process dev mode and unit tests, where kombu's ``memory://``
has no confirms, no ``mandatory`` and no TTLs — nothing there is claimed to survive a crash.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import amqp
from kombu import Connection, Producer

from .config import Settings
from .events import CONTENT_TYPE

# Errors after which a connection is dropped and a new one made.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.timeout,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableConnectionError,
    amqp.exceptions.ChannelError,
    ConnectionError,
)


class ConfirmTimeout(ConnectionError):
    """The broker did not confirm in time: the connection is suspect and must be replaced."""


def close_connection(conn: Connection, *, broken: bool) -> None:
    """Close ``conn``. A broken one is dropped without the closing handshake: on a dead socket
    py-amqp would wait for ``close-ok`` forever (and a connection that failed in confirm mode must
    never be reused — kombu PR #2201)."""
    try:
        if broken:
            conn.collect()
        else:
            conn.release()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
        pass


def keep_alive(conn: Connection) -> None:
    """Read whatever frames are waiting and send a heartbeat if one is due. py-amqp only counts
    the server's heartbeats it has read, so an idle connection must still read (DESIGN §8)."""
    try:
        conn.drain_events(timeout=0)
    except TimeoutError:
        pass
    conn.heartbeat_check()


def queue_depth(conn: Connection, queue: str) -> int:
    """Messages ready in ``queue`` (a passive declare: nothing is consumed). On its own channel,
    because a missing queue closes the channel it was asked on."""
    channel = conn.channel()
    try:
        return channel.queue_declare(queue, passive=True).message_count
    finally:
        channel.close()


def connect(settings: Settings) -> Connection:
    """A new connection (never shared across threads or processes, never opened at import)."""
    if settings.uses_memory_bus:
        # The virtual transport polls; a short interval keeps dev-mode latency low.
        conn = Connection(settings.broker_url, transport_options={"polling_interval": 0.01})
    else:
        conn = Connection(settings.broker_url, heartbeat=settings.heartbeat, connect_timeout=5)
    conn.connect()
    return conn


@dataclass(frozen=True)
class Outgoing:
    message_id: str | None  # None only for a republished message that came without one
    routing_key: str
    body: bytes
    exchange: str
    headers: dict = field(default_factory=dict)


@dataclass
class PublishResult:
    confirmed: set[str | None] = field(default_factory=set)
    failed: dict[str | None, str] = field(default_factory=dict)  # message id → why (returned, nacked)


class Publisher:
    """Port: publish a batch, report which messages the broker took responsibility for."""

    broken = False  # a failed publisher's connection is dropped, never reused

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        raise NotImplementedError

    def keep_alive(self) -> None:
        """Called while idle: keep the connection's heartbeats going."""

    def queue_depth(self, queue: str) -> int | None:
        """Messages ready in ``queue``; None where the transport cannot tell."""
        return None

    def close(self) -> None:
        raise NotImplementedError


@contextmanager
def corked(transport) -> Iterator[None]:
    """Gather every frame written in the block and send them in one ``sendall`` at its end.
    py-amqp writes each message with its own system call; for a batch of 500 that costs more than
    everything else the relay does (bench/relay_throughput.py). Relies on py-amqp's transports
    writing through their ``_write`` attribute; the frame writer reuses one buffer, hence the copy."""
    frames: list[bytes] = []
    own = vars(transport).get("_write")  # TCP: the socket's sendall; SSL: None (a method)
    transport._write = lambda data: frames.append(bytes(data))
    try:
        yield
    finally:
        if own is None:
            del transport._write
        else:
            transport._write = own
        if frames:
            transport.write(b"".join(frames))


class AmqpPublisher(Publisher):
    def __init__(self, conn: Connection, confirm_timeout: float):
        self.conn = conn
        self.confirm_timeout = confirm_timeout
        self.broken = False  # set by any failure: the connection is then dropped, never reused
        self.channel = conn.channel()
        self.channel.confirm_select()
        self._next_tag = 1
        self._pending: dict[int, str] = {}
        self._result = PublishResult()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self.channel.events["basic_return"].add(self._on_return)

    def _settle(self, delivery_tag: int, multiple: bool, failure: str | None) -> None:
        tags = [t for t in self._pending if t <= delivery_tag] if multiple else [delivery_tag]
        for tag in tags:
            if tag not in self._pending:
                continue
            message_id = self._pending.pop(tag)  # None for a republished message that had no id
            if failure is None and message_id not in self._result.failed:
                self._result.confirmed.add(message_id)
            elif failure is not None:
                self._result.failed[message_id] = failure

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, None)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, "nacked by the broker")

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        # basic.return arrives before the basic.ack of the same message.
        self._result.failed[message.properties.get("message_id")] = f"unroutable: {exchange}/{routing_key} ({exc})"

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        if self.broken:
            raise ConfirmTimeout("this publisher's connection failed; open a new one")
        try:
            return self._publish_and_confirm(messages)
        except BaseException:
            self.broken = True
            raise

    def _publish_and_confirm(self, messages: list[Outgoing]) -> PublishResult:
        self._result = PublishResult()
        self._pending.clear()
        with corked(self.conn.connection.transport):
            self._publish_all(messages)
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConfirmTimeout(f"{len(self._pending)} publishes unconfirmed")
            try:
                self.conn.drain_events(timeout=min(remaining, 1.0))
            except TimeoutError:
                pass
        return self._result

    def _publish_all(self, messages: list[Outgoing]) -> None:
        for msg in messages:
            self.channel.basic_publish(
                amqp.Message(
                    msg.body,
                    content_type=CONTENT_TYPE,
                    message_id=msg.message_id,
                    delivery_mode=2,
                    application_headers=msg.headers or None,
                ),
                exchange=msg.exchange,
                routing_key=msg.routing_key,
                mandatory=True,
            )
            self._pending[self._next_tag] = msg.message_id
            self._next_tag += 1

    def keep_alive(self) -> None:
        try:
            keep_alive(self.conn)
        except BaseException:
            self.broken = True
            raise

    def queue_depth(self, queue: str) -> int | None:
        return queue_depth(self.conn, queue)

    def close(self) -> None:
        close_connection(self.conn, broken=self.broken)


class MemoryPublisher(Publisher):
    def __init__(self, conn: Connection):
        self.conn = conn
        self.producer = Producer(conn.channel())

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        for msg in messages:
            self.producer.publish(
                msg.body,
                exchange=msg.exchange,
                routing_key=msg.routing_key,
                content_type=CONTENT_TYPE,
                content_encoding="utf-8",
                message_id=msg.message_id,
                headers=msg.headers,
            )
        return PublishResult(confirmed={m.message_id for m in messages})

    def close(self) -> None:
        self.conn.release()


def open_publisher(settings: Settings, conn: Connection | None = None) -> Publisher:
    conn = conn or connect(settings)
    if settings.uses_memory_bus:
        return MemoryPublisher(conn)
    return AmqpPublisher(conn, settings.confirm_timeout)
