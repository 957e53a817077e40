#!/usr/bin/env python3
"""Check a running Whistle against the operation tables of docs/api.md.

Usage: tools/contract.py [BASE_URL] [--doc PATH]   (default http://127.0.0.1:8000, as `whistle dev` serves)

For each service it reads /<service>/openapi.json and reports every documented operation the
service does not declare and every declared operation docs/api.md does not list (path parameters
are compared by position, not by name); it GETs the endpoints documented for every service
(/{service}/healthz, /readyz, /metrics must be among them), and reports any write audit declares.
Exit 0 only when there is nothing to report. Standard library only: it runs without the project's
dependencies.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("intake", "dispatch", "notify", "audit")
EVERY_SERVICE = "{service}"  # a documented path under /{service}/ is served by each service
PROBES = ("healthz", "readyz", "metrics")  # documented for every service, and each must answer
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
HEADER = ("method", "path", "roles")  # an operations table's first columns
DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"

# fetch(path) → (status, body) for a path such as /intake/openapi.json; raises when nothing answers.
Fetch = Callable[[str], tuple[int, bytes]]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the public path, prefix included: /intake/v1/cases/{id}
    roles: tuple[str, ...]
    line: int

    @property
    def service(self) -> str:
        return self.path.split("/")[1]

    @property
    def local_path(self) -> str:
        """The path inside the service (what its openapi.json declares)."""
        return self.path[len(self.service) + 1 :]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def shape(path: str) -> str:
    """A path with its parameters unnamed, so that they compare by position."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def cells(line: str) -> list[str]:
    inner = line.strip().strip("|")
    return [cell.strip().strip("`").strip() for cell in re.split(r"(?<!\\)\|", inner)]


def read_operations(text: str) -> list[Operation]:
    """Every row of every table whose header begins ``method | path | roles``."""
    operations, in_table = [], False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.lstrip().startswith("|"):
            in_table = False
            continue
        row = [*cells(line), "", "", ""]  # a short row still has its method, path and roles
        if tuple(c.lower() for c in row[: len(HEADER)]) == HEADER:
            in_table = True
        elif in_table and not re.fullmatch(r"[\s|:-]+", line):
            roles = tuple(r.strip() for r in row[2].split(",") if r.strip())
            operations.append(Operation(row[0].upper(), row[1], roles, number))
    return operations


def declared(spec: dict) -> dict[tuple[str, str], str]:
    """Every operation an OpenAPI document declares: (METHOD, shape) → the path as declared."""
    return {
        (method.upper(), shape(path)): path
        for path, item in spec.get("paths", {}).items()
        for method in item
        if method.upper() in METHODS
    }


def fetch_specs(fetch: Fetch) -> dict[str, dict | str]:
    """Each service's OpenAPI document, or why there is none."""
    specs: dict[str, dict | str] = {}
    for service in SERVICES:
        try:
            status, body = fetch(f"/{service}/openapi.json")
            specs[service] = json.loads(body) if status == 200 else f"answered {status}"
        except Exception as exc:  # noqa: BLE001 - the service is down or not there: say so
            specs[service] = str(exc)
    return specs


def screen(operations: list[Operation]) -> tuple[list[Operation], list[str]]:
    """The rows that are operations of a service or of every service, and what is wrong with the rest."""
    listed, problems, seen = [], [], {}
    for op in operations:
        key = (op.method, shape(op.path))
        if op.method not in METHODS or not op.path.startswith("/"):
            problems.append(f"docs/api.md:{op.line}: not an operation: {op}")
        elif op.service not in (*SERVICES, EVERY_SERVICE):
            problems.append(f"docs/api.md:{op.line}: {op} is under no service ({', '.join(SERVICES)})")
        elif key in seen:
            problems.append(f"docs/api.md:{op.line}: {op} is listed again (line {seen[key]})")
        else:
            seen[key] = op.line
            listed.append(op)
    problems += [
        f"docs/api.md lists no GET /{EVERY_SERVICE}/{endpoint}"
        for endpoint in PROBES
        if ("GET", shape(f"/{EVERY_SERVICE}/{endpoint}")) not in seen
    ]
    return listed, problems


def compare_service(service: str, listed: list[Operation], spec: dict) -> list[str]:
    """One service's documented operations against the ones its OpenAPI document declares."""
    have = declared(spec)
    ours = {(op.method, shape(op.local_path)): op for op in listed if op.service == service}
    problems = [f"docs/api.md:{op.line}: {op} is not declared by {service}" for k, op in ours.items() if k not in have]
    problems += [
        f"{service} declares {key[0]} /{service}{path}, which docs/api.md does not list"
        for key, path in sorted(have.items())
        if key not in ours
    ]
    if service == "audit":
        problems += [
            f"audit declares a write: {key[0]} /audit{path}" for key, path in sorted(have.items()) if key[0] in WRITES
        ]
    return problems


def compare(operations: list[Operation], specs: dict[str, dict | str]) -> list[str]:
    """What the documented operations and the declared ones disagree on."""
    listed, problems = screen(operations)
    for service in SERVICES:
        spec = specs[service]
        if isinstance(spec, dict):
            problems += compare_service(service, listed, spec)
        else:
            problems.append(f"{service}: no /{service}/openapi.json ({spec})")
    return problems


def probe(operations: list[Operation], fetch: Fetch) -> list[str]:
    """GET every endpoint documented for every service, on each service; each must answer 2xx."""
    problems = []
    paths = [op.path for op in operations if op.service == EVERY_SERVICE and op.method == "GET"]
    for service in SERVICES:
        for path in paths:
            url = path.replace(EVERY_SERVICE, service, 1)
            try:
                status, _ = fetch(url)
            except Exception as exc:  # noqa: BLE001 - nothing answered: report it
                problems.append(f"{service}: GET {url} ({exc})")
                continue
            if not 200 <= status < 300:
                problems.append(f"{service}: GET {url} answered {status}")
    return problems


def check(text: str, fetch: Fetch) -> tuple[list[str], str]:
    """Problems (none when all is well) and a one-line summary."""
    operations = read_operations(text)
    specs = fetch_specs(fetch)
    problems = compare(operations, specs) + probe(operations, fetch)
    documented = [op for op in operations if op.service in SERVICES]
    probes = sum(op.service == EVERY_SERVICE for op in operations) * len(SERVICES)
    summary = (
        f"{len(documented)} documented operations in {len(SERVICES)} services, "
        f"{probes} endpoints of every service probed; problems: {len(problems) or 'none'}"
    )
    return problems, summary


def http_fetch(base_url: str, timeout: float = 10) -> Fetch:
    base = base_url.rstrip("/")

    def fetch(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:  # an answer all the same
            return error.code, error.read()

    return fetch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--doc", type=Path, default=DOC, help="the contract (default: docs/api.md)")
    args = parser.parse_args(argv)
    problems, summary = check(args.doc.read_text(encoding="utf-8"), http_fetch(args.base_url))
    for problem in problems:
        print(problem)
    print(f"{args.base_url}: {summary}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
