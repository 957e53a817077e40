"""Open-loop GET load for bench/micro.py, in its own process so it never shares the GIL with what
it measures: requests start on a fixed schedule, round robin over a list of URLs, and latency is
taken from the scheduled start (no coordinated omission). One JSON line per request."""

from __future__ import annotations

import argparse
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor

from .loadgen import request


def fetch(url: str, auth: str, scheduled: float) -> dict:
    try:
        status, _body = request("GET", url, None, {"Authorization": f"Bearer {auth}"})
    except (http.client.HTTPException, OSError) as exc:
        status = 0
        print(f"GET {url} failed: {exc}", flush=True)
    return {"url": url, "status": status, "scheduled": scheduled, "done": time.time()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--urls", required=True, help="a JSON file holding a list of URLs")
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.urls) as handle:
        urls = json.load(handle)
    total = int(args.rate * args.duration)
    begin = time.time() + 0.2
    with ThreadPoolExecutor(max_workers=min(128, max(16, int(args.rate)))) as pool:
        futures = []
        for i in range(total):
            scheduled = begin + i / args.rate
            delay = scheduled - time.time()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(fetch, urls[i % len(urls)], args.token, scheduled))
        rows = [f.result() for f in futures]
    with open(args.out, "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
