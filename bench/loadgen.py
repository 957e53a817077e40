"""The load generator, run as its own process so it does not share the GIL with what it measures.

Open loop (``--rate``): requests start on a fixed schedule whatever the platform does, and latency
is measured from the scheduled start, so a stalled server cannot hide its queueing (no coordinated
omission). Closed loop (``--concurrency``): each client sends its next case when the last is
answered — the maximum the platform sustains. Writes one JSON line per case.
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

CASE = {
    "title": "地下车库自来水主管网渗漏",
    "description": "高峰期水压不够",
    "category": "water_supply",
    "channel": "grid",
    "location": {"address": "伟业佳苑地下停车场", "street": "紫阳街道", "community": "武泰闸社区", "grid": "G-07"},
    "reporter": {"name": "尹师傅", "phone": "13800138000"},
}

# Where case n is reported: a lattice of points about 300 m apart over a city 60 km across, which
# n walks so that any two cases submitted within 48 of each other lie at least 26 points (7.8 km)
# apart. So no case is linked as a duplicate of another (the radius is 250 m), none waits on
# another's duplicate-check lock, and the check runs as it does for a report with a GPS fix.
LATTICE = 200  # points a side: 40,000 cases before a point comes round again
LAT_STEP, LON_STEP = 0.0027, 0.0031  # degrees; about 300 m each near 30.5° N


def position(n: int) -> tuple[float, float]:
    row, column = (53 * n) % LATTICE, (n // LATTICE + 57 * n) % LATTICE
    return round(30.30 + row * LAT_STEP, 6), round(114.00 + column * LON_STEP, 6)


_local = threading.local()


class Client:
    """One keep-alive connection to a host, per thread, with the standard library's http.client: a
    load generator shares the machine with what it measures, so it should cost as little as it can."""

    def __init__(self, host: str, port: int | None):
        self.host, self.port = host, port
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: reconnect once
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                self.connection.request(method, path, body, headers)
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def request(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    """``method`` on ``url`` over this thread's connection to its host."""
    parts = urlsplit(url)
    clients = _local.__dict__.setdefault("clients", {})
    client = clients.get(parts.netloc)
    if client is None:
        client = clients[parts.netloc] = Client(parts.hostname, parts.port)
    return client.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body, headers)


def case_body(n: int) -> bytes:
    """Case n as submitted: its own title and address, at its point of the lattice."""
    lat, lon = position(n)
    body = {
        **CASE,
        "title": f"{CASE['title']} #{n}",
        "location": {**CASE["location"], "address": f"{CASE['location']['address']} {n}号", "lat": lat, "lon": lon},
    }
    return json.dumps(body).encode()


def submit(url: str, token: str, n: int, scheduled: float) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.time()
    try:
        status, payload = request("POST", url, case_body(n), headers)
        case_id = json.loads(payload).get("id") if status == 201 else None
    except (http.client.HTTPException, OSError, ValueError) as exc:
        status, case_id = 0, None
        print(f"request {n} failed: {exc}", flush=True)
    return {
        "n": n,
        "case_id": case_id,
        "status": status,
        "scheduled": scheduled,
        "started": started,
        "accepted": time.time(),
    }


def open_loop(url: str, token: str, rate: float, duration: float, offset: int) -> list[dict]:
    total = int(rate * duration)
    begin = time.time() + 0.2
    with ThreadPoolExecutor(max_workers=min(256, max(16, int(rate)))) as pool:
        futures = []
        for i in range(total):
            scheduled = begin + i / rate
            delay = scheduled - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(submit, url, token, offset + i, scheduled))
        return [f.result() for f in futures]


def closed_loop(url: str, token: str, concurrency: int, duration: float, count: int, offset: int) -> list[dict]:
    deadline = time.time() + duration if duration else float("inf")
    counter = iter(range(offset, offset + (count or 10**9)))
    lock = threading.Lock()
    results: list[dict] = []

    def client():
        while time.time() < deadline:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            result = submit(url, token, n, time.time())
            with lock:
                results.append(result)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, help="open loop: cases per second")
    parser.add_argument("--concurrency", type=int, help="closed loop: clients")
    parser.add_argument("--duration", type=float, default=0)
    parser.add_argument("--count", type=int, default=0, help="closed loop: stop after this many")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.rate:
        results = open_loop(args.url, args.token, args.rate, args.duration, args.offset)
    else:
        results = closed_loop(args.url, args.token, args.concurrency, args.duration, args.count, args.offset)
    with open(args.out, "w") as out:
        for result in results:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
