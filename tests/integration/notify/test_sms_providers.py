"""One contract for every SmsProvider: the file sink (development) and the HTTP gateway (against
a real local HTTP server standing in for the carrier)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notify.channels import SendError
from services.notify.channels.sms import FileSmsSink, HttpSmsGateway


class Carrier:
    def __init__(self):
        self.received, self.status = [], 200
        carrier = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                carrier.received.append({**body, "auth": self.headers.get("Authorization")})
                self.send_response(carrier.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def carrier():
    c = Carrier()
    yield c
    c.close()


@pytest.fixture(params=["file", "http"])
def provider_and_sent(request, tmp_path, carrier):
    if request.param == "file":
        path = tmp_path / "sms" / "sms.jsonl"
        return FileSmsSink(path), lambda: [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    return HttpSmsGateway(carrier.url, "gateway-key", (1, 1)), lambda: carrier.received


def test_a_provider_delivers_number_text_and_reference(provider_and_sent):
    provider, sent = provider_and_sent
    provider.send("13800138000", "【吹哨报到】已处理", reference="e1")
    provider.send("13900139000", "第二条", reference="e2")
    assert [(s["to"], s["text"], s["reference"]) for s in sent()] == [
        ("13800138000", "【吹哨报到】已处理", "e1"),
        ("13900139000", "第二条", "e2"),
    ]


def test_the_gateway_authenticates_and_reports_failures_without_the_number(carrier):
    gateway = HttpSmsGateway(carrier.url, "gateway-key", (1, 1))
    gateway.send("13800138000", "hi", reference="e1")
    assert carrier.received[0]["auth"] == "Bearer gateway-key"
    carrier.status = 503
    with pytest.raises(SendError) as failed:
        gateway.send("13800138000", "hi", reference="e2")
    assert str(failed.value) == "SMS gateway: HTTP 503" and "13800138000" not in str(failed.value)
