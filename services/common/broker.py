"""Broker connections and publishers.

``AmqpPublisher`` pipelines publisher confirms on the py-amqp channel: it publishes a whole batch
``mandatory``, then drains the acks, nacks and returns (one round trip per batch, not per message).
``MemoryPublisher`` is for the single-process dev mode and unit tests, where kombu's ``memory://``
has no confirms, no ``mandatory`` and no TTLs — nothing there is claimed to survive a crash.
"""

from __future__ import annotations

import socket
import time
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
    message_id: str
    routing_key: str
    body: bytes
    exchange: str
    headers: dict = field(default_factory=dict)


@dataclass
class PublishResult:
    confirmed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # message id → why (returned, nacked)


class Publisher:
    """Port: publish a batch, report which messages the broker took responsibility for."""

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class AmqpPublisher(Publisher):
    def __init__(self, conn: Connection, confirm_timeout: float):
        self.conn = conn
        self.confirm_timeout = confirm_timeout
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
            message_id = self._pending.pop(tag, None)
            if message_id is None:
                continue
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
        message_id = message.properties.get("message_id")
        self._result.failed[message_id] = f"unroutable: {exchange}/{routing_key} ({exc})"

    def publish_batch(self, messages: list[Outgoing]) -> PublishResult:
        self._result = PublishResult()
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

    def close(self) -> None:
        try:
            self.conn.release()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
            pass


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
