"""What the stack itself can do on this machine, measured in the same run as the platform:
RabbitMQ publish-with-confirm → consume-and-ack with kombu, and a bare Flask app under gunicorn."""

from __future__ import annotations

import threading
import time

import amqp
from kombu import Connection, Consumer, Queue


def broker_floor(broker_url: str, messages: int = 20000, batch: int = 500) -> dict:
    """Publish ``messages`` to a quorum queue with pipelined confirms while a kombu consumer acks
    them; the rate is from the first publish to the last ack."""
    queue_name = f"bench.floor.{time.time_ns()}"
    queue = Queue(queue_name, durable=True, queue_arguments={"x-queue-type": "quorum"})
    body = b'{"specversion":"1.0","type":"case.reported","data":{"title":"' + b"x" * 400 + b'"}}'
    done = threading.Event()
    received = 0

    def consume():
        nonlocal received
        with Connection(broker_url, heartbeat=10) as conn:

            def on_message(message):
                nonlocal received
                message.ack()
                received += 1
                if received >= messages:
                    done.set()

            with Consumer(conn.channel(), queues=[queue], on_message=on_message, prefetch_count=200):
                ready.set()
                while not done.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass

    ready = threading.Event()
    with Connection(broker_url) as conn:
        queue(conn.default_channel).declare()
        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        ready.wait(30)
        channel = conn.channel()
        channel.confirm_select()
        acked = 0

        def on_ack(tag, multiple):
            nonlocal acked
            acked = max(acked, tag)

        channel.events["basic_ack"].add(on_ack)
        started = time.perf_counter()
        for first in range(0, messages, batch):
            count = min(batch, messages - first)
            for _ in range(count):
                channel.basic_publish(amqp.Message(body, delivery_mode=2), exchange="", routing_key=queue_name)
            while acked < first + count:
                conn.drain_events(timeout=10)
        published = time.perf_counter()
        done.wait(120)
        finished = time.perf_counter()
        queue(conn.default_channel).delete()
    return {
        "messages": messages,
        "publish_per_s": round(messages / (published - started)),
        "end_to_end_per_s": round(messages / (finished - started)),
    }
