"""Keep a broker session going across lost connections: the consumer's and the relay's loop.

Each session gets a new connection; one that failed is dropped without the closing handshake
(broker.close_connection) and never reused, and the next is made after a pause that doubles from
0.5 s up to 10 s. The pause waits on the stop event, so that a stopping worker leaves at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kombu import Connection

from .broker import CONNECTION_ERRORS, close_connection, connect
from .config import Settings

FIRST_PAUSE = 0.5
LONGEST_PAUSE = 10.0


# Not kombu's ensure_connection (retries connecting only, sleeps deaf to stop) or ConsumerMixin (closes by handshake).
def run_connected(
    settings: Settings,
    stop: threading.Event,
    open_session: Callable[[Connection, threading.Event], Callable[[], None]],
    *,
    log: logging.Logger,
    name: str,
    lost: str,
) -> None:
    """Until ``stop`` is set: connect, let ``open_session`` declare what its session needs, and run
    the session (it returns once ``stop`` is set). On a connection error log ``<name>: <lost>``,
    drop the connection (its unacked messages go back to their queue) and pause. The pause starts
    again from the shortest only once a session was opened: a broker that takes the connection
    but refuses the declarations is not asked twice a second."""
    pause = FIRST_PAUSE
    while not stop.is_set():
        conn = None
        broken = False
        try:
            conn = connect(settings)
            session = open_session(conn, stop)
            if pause > FIRST_PAUSE:
                log.info("%s: broker connection restored", name)
            pause = FIRST_PAUSE
            session()
        except CONNECTION_ERRORS as exc:
            broken = True
            log.warning("%s: %s (%s); reconnecting in %.1fs", name, lost, exc, pause)
        finally:
            if conn is not None:
                close_connection(conn, broken=broken)
        if broken:
            stop.wait(pause)
            pause = min(pause * 2, LONGEST_PAUSE)
