"""The department's side in the benchmark: a threaded HTTP server that checks each webhook's
signature and notes when it arrived."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, secret: str):
        self.arrivals: dict[str, float] = {}  # case id → first task.assigned webhook
        self.bad_signatures = 0
        self.total = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.time()
                parts = [p.split("=", 1) for p in self.headers.get("Whistle-Signature", "").split(",") if "=" in p]
                stamp = next((v for k, v in parts if k == "t"), "")
                expected = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
                signed = any(k == "v1" and hmac.compare_digest(expected, v) for k, v in parts)
                event = json.loads(body)
                with receiver.lock:
                    receiver.total += 1
                    if not signed:
                        receiver.bad_signatures += 1
                    if event.get("type") == "task.assigned":
                        receiver.arrivals.setdefault(event.get("subject"), now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
