"""A webhook receiver in its own process for bench/micro_notify.py: HTTP/1.1 keep-alive, answers
each POST with 204 after ``--delay`` seconds, and tells ``GET /stats`` how many arrived and when the
first and the last did. Prints its port on the first line of stdout."""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    lock = threading.Lock()
    stats = {"count": 0, "first": None, "last": None}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if args.delay:
                time.sleep(args.delay)
            now = time.time()
            with lock:
                stats["count"] += 1
                stats["first"] = stats["first"] or now
                stats["last"] = now
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            with lock:
                body = json.dumps(stats).encode()
                if self.path == "/reset":
                    stats.update(count=0, first=None, last=None)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
