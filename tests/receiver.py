"""A real HTTP server standing in for a department's system: it records each webhook and checks
its signature with a verifier written here, independently of notify's code."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify_signature(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    timestamp, signature = parts.get("t", ""), parts.get("v1", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class WebhookReceiver:
    def __init__(self, secret: str, status: int = 200):
        self.secret = secret
        self.status = status
        self.received: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.received.append(
                        {
                            "event": json.loads(body),
                            "event_id": self.headers.get("Whistle-Event-Id"),
                            "content_type": self.headers.get("Content-Type"),
                            "verified": verify_signature(
                                receiver.secret, self.headers.get("Whistle-Signature", ""), body
                            ),
                        }
                    )
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/whistle"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events_for(self, case_id: str) -> list[dict]:
        with self.lock:
            return [r for r in self.received if r["event"].get("subject") == case_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
