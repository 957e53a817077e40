"""Stand-ins for the outside world notify talks to: a department's webhook receiver that can be
told to fail, stall or go away, and a real SMTP server. The signature check here is written from
the documented header format, independently of notify's code."""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """Accept when ``t`` is recent and any ``v1`` is HMAC-SHA256(secret, "<t>.<body>")."""
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s) for s in signatures)


class Receiver:
    """``mode``: ``ok`` (200), ``error`` (500), ``slow`` (sleeps ``delay`` then 200). ``close()``
    makes the port refuse connections; ``open()`` brings it back on the same port."""

    def __init__(self, secret: str, mode: str = "ok", delay: float = 0.0):
        self.secret, self.mode, self.delay = secret, mode, delay
        self.requests: list[dict] = []  # every request that reached the handler
        self.lock = threading.Lock()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.open()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as notify's sessions expect

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                mode, delay = receiver.mode, receiver.delay
                if mode == "slow":
                    time.sleep(delay)
                status = 500 if mode == "error" else 200
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "event": json.loads(body),
                            "event_id": self.headers.get("Whistle-Event-Id"),
                            "content_type": self.headers.get("Content-Type"),
                            "signature": self.headers.get("Whistle-Signature", ""),
                            "verified": verify(receiver.secret, self.headers.get("Whistle-Signature", ""), body),
                            "status": status,
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler

    def open(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/whistle"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def accepted(self) -> list[dict]:
        """Requests answered 200 whose signature verified."""
        with self.lock:
            return [r for r in self.requests if r["status"] == 200 and r["verified"]]


class Mailbox:
    """A real SMTP server (aiosmtpd) on an ephemeral local port; messages parsed with email.parser."""

    def __init__(self):
        self.messages = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(envelope.content)
                mailbox.messages.append({"to": list(envelope.rcpt_tos), "message": parsed})
                return "250 OK"

        # Controller checks readiness by connecting to the port it was given, so port 0 will not do:
        # take a free ephemeral port from the OS first.
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        if self.controller._thread is not None:  # stop() refuses to run twice
            self.controller.stop()
