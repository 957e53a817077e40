"""deploy/nginx.conf, the gateway: its upstreams are compose's webs, `nginx -t` accepts it, and run
for real under nginx on loopback, in front of stand-in services, it routes, limits and answers in
the platform's error shape. The tests that run nginx skip where it is not installed."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.deploy.files import DEPLOY, SERVICES


def _nginx() -> str:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if not binary:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    return binary


def test_gateway_upstreams_are_the_compose_webs(base):
    config = (DEPLOY / "nginx.conf").read_text()
    routes = dict(re.findall(r"^\s*(intake|dispatch|notify|audit)\s+(\S+):8000;$", config, re.M))
    assert routes == {s: f"{s}-web" for s in SERVICES}
    assert set(routes.values()) <= set(base["services"])
    assert "client_max_body_size 1m;" in config


def test_gateway_config_passes_nginx_t(tmp_path):
    # The file as shipped: upstream names resolve per request (resolver), so `nginx -t` needs
    # neither compose's DNS nor the webs.
    shutil.copy(DEPLOY / "nginx.conf", tmp_path / "nginx.conf")
    result = subprocess.run(
        [_nginx(), "-t", "-e", "stderr", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


class _Echo(BaseHTTPRequestHandler):
    """A stand-in service: answers with what reached it."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = json.dumps(
            {
                "service": self.server.name,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_bytes": length,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(tmp_path):
    """The real nginx.conf, run by nginx on loopback in front of four stand-in services.

    Only addresses change: upstream names become 127.0.0.1 ports (an IP needs no resolver) and
    the listen port a free one; temp paths go under tmp_path so no system directory is needed.
    """
    nginx = _nginx()
    backends = {}
    for service in SERVICES:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        server.name = service
        threading.Thread(target=server.serve_forever, daemon=True).start()
        backends[service] = server

    config = (DEPLOY / "nginx.conf").read_text()
    port = free_port()
    replacements = {
        "listen 8000;": f"listen 127.0.0.1:{port};",
        "http {": "http {\n"
        + "".join(
            f"    {kind}_temp_path {tmp_path}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
    }
    replacements |= {f"{s}-web:8000;": f"127.0.0.1:{backends[s].server_port};" for s in SERVICES}
    for old, new in replacements.items():
        assert config.count(old) == 1, f"nginx.conf changed shape: {old!r}"
        config = config.replace(old, new)
    (tmp_path / "nginx.conf").write_text(config)

    # As root, nginx's workers would drop to `nobody`, who cannot enter pytest's private tmp_path.
    user = "user root;" if os.geteuid() == 0 else ""
    process = subprocess.Popen(
        [
            nginx,
            "-e",
            "stderr",
            "-p",
            f"{tmp_path}/",
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            f"daemon off; pid {tmp_path}/nginx.pid; {user}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {process.communicate()[1]}")
                time.sleep(0.05)
        yield types.SimpleNamespace(port=port, backends=backends)
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        for server in backends.values():
            server.shutdown()
            server.server_close()


def request(gateway, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        return response.status, dict(response.getheaders()), payload
    finally:
        connection.close()


def test_gateway_routes_each_prefix_to_its_service(gateway):
    for service in SERVICES:
        status, _, body = request(gateway, "GET", f"/{service}/v1/things?limit=5&cursor=a%2Fb")
        seen = json.loads(body)
        assert status == 200
        assert seen["service"] == service
        assert seen["path"] == "/v1/things?limit=5&cursor=a%2Fb"  # prefix gone, query intact
        headers = seen["headers"]
        assert headers["x-forwarded-prefix"] == f"/{service}"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"
        assert headers["host"] == f"127.0.0.1:{gateway.port}"


def test_gateway_keeps_or_mints_a_correlation_id(gateway):
    _, _, body = request(gateway, "GET", "/audit/healthz", {"X-Correlation-Id": "case-42-trace"})
    assert json.loads(body)["headers"]["x-correlation-id"] == "case-42-trace"

    minted = {json.loads(request(gateway, "GET", "/audit/healthz")[2])["headers"]["x-correlation-id"] for _ in range(2)}
    assert len(minted) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", m) for m in minted)


def test_gateway_limits_bodies_to_one_mebibyte(gateway):
    status, _, body = request(
        gateway, "POST", "/intake/v1/cases", body=b"x" * 200_000, headers={"Content-Type": "application/json"}
    )
    assert status == 200 and json.loads(body)["body_bytes"] == 200_000

    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:  # announce 2 MiB; nginx refuses on the header, before any body is sent
        connection.putrequest("POST", "/intake/v1/cases")
        connection.putheader("Content-Length", str(2 * 1024 * 1024))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 413
        assert json.loads(response.read())["code"] == "PAYLOAD_TOO_LARGE"
    finally:
        connection.close()


def test_gateway_answers_in_the_error_shape(gateway):
    status, headers, body = request(gateway, "GET", "/nowhere")
    assert status == 404
    assert json.loads(body) == {
        "code": "NOT_FOUND",
        "status": 404,
        "errors": {},
        "message": json.loads(body)["message"],
    }
    assert headers["X-Correlation-Id"]

    status, headers, _ = request(gateway, "GET", "/dispatch?x=1")
    assert (status, headers["Location"].rsplit(":", 1)[-1]) == (308, f"{gateway.port}/dispatch/?x=1")

    gateway.backends["notify"].shutdown()
    gateway.backends["notify"].server_close()  # notify is down: connection refused
    status, _, body = request(gateway, "GET", "/notify/v1/deliveries")
    error = json.loads(body)
    assert (status, error["code"], error["status"]) == (502, "SERVICE_UNAVAILABLE", 502)
    assert "notify" in error["message"]
    assert request(gateway, "GET", "/intake/healthz")[0] == 200  # the others are unaffected
