"""tools/contract.py on a tiny contract and fake servers: what it reports, and that it does."""

from __future__ import annotations

import json

import pytest

from services.common.auth import ROLES
from services.common.config import SERVICES
from tools import contract

DOC = """\
Operations:

| method | path | roles | what it does |
|---|---|---|---|
| GET | `/intake/v1/cases/{id}` | staff, admin | one case |
| POST | `/intake/v1/cases` | staff | submit one |
| GET | `/audit/v1/events` | auditor | the trail |

Not an operations table:

| status | code |
|---|---|
| 404 | `NOT_FOUND` |

| method | path | roles | what it does |
|---|---|---|---|
| GET | `/{service}/healthz` | anyone | alive |
| GET | `/{service}/readyz` | anyone | ready |
| GET | `/{service}/metrics` | anyone | metrics |
"""


def specs(**extra: dict) -> dict[str, dict]:
    declared = {
        "intake": {"/v1/cases": {"post": {}}, "/v1/cases/{case_id}": {"get": {}, "parameters": []}},
        "dispatch": {},
        "notify": {},
        "audit": {"/v1/events": {"get": {}}},
    }
    for service, paths in extra.items():
        declared[service] = {**declared[service], **paths}
    return {service: {"paths": paths} for service, paths in declared.items()}


def server(spec: dict[str, dict], answers: dict[str, int] | None = None):
    """A fetch that serves ``spec`` as the services' openapi.json; other paths answer 200 or ``answers``."""

    def fetch(path: str) -> tuple[int, bytes]:
        service, _, rest = path.lstrip("/").partition("/")
        if rest == "openapi.json" and service in spec:
            return 200, json.dumps(spec[service]).encode()
        return (answers or {}).get(path, 200), b"{}"

    return fetch


def without(text: str, row: str) -> str:
    assert row in text
    return "\n".join(line for line in text.splitlines() if row not in line)


def test_a_server_that_keeps_the_contract_has_nothing_reported():
    problems, summary = contract.check(DOC, server(specs()))
    assert problems == []
    assert summary.startswith("3 documented operations")


def test_rows_come_from_operation_tables_only():
    ops = contract.read_operations(DOC)
    assert [str(op) for op in ops][:3] == ["GET /intake/v1/cases/{id}", "POST /intake/v1/cases", "GET /audit/v1/events"]
    assert ops[0].roles == ("staff", "admin") and ops[0].local_path == "/v1/cases/{id}"
    assert len(ops) == 6  # the status table is not read


def test_a_removed_row_is_an_undocumented_operation():
    problems, _ = contract.check(without(DOC, "| POST | `/intake/v1/cases`"), server(specs()))
    assert problems == ["intake declares POST /intake/v1/cases, which docs/api.md does not list"]


def test_a_documented_operation_the_server_lacks_is_reported():
    problems, _ = contract.check(DOC + "| PUT | `/intake/v1/cases/{id}` | admin | edit |\n", server(specs()))
    assert problems == [
        f"docs/api.md:{len(DOC.splitlines()) + 1}: PUT /intake/v1/cases/{{id}} is not declared by intake"
    ]


def test_path_parameters_compare_by_position_not_name():
    moved = {"intake": {"paths": {"/v1/cases": {"post": {}}, "/v1/{case_id}/cases": {"get": {}}}}}
    problems, _ = contract.check(DOC, server({**specs(), **moved}))
    assert "intake declares GET /intake/v1/{case_id}/cases, which docs/api.md does not list" in problems
    assert any("GET /intake/v1/cases/{id} is not declared by intake" in p for p in problems)


def test_a_write_in_audit_is_reported_even_when_documented():
    doc = DOC + "| DELETE | `/audit/v1/events` | admin | forget |\n"
    problems, _ = contract.check(doc, server(specs(audit={"/v1/events": {"get": {}, "delete": {}}})))
    assert problems == ["audit declares a write: DELETE /audit/v1/events"]


def test_an_endpoint_of_every_service_must_be_listed_and_answer():
    problems, _ = contract.check(without(DOC, "/{service}/metrics"), server(specs(), {"/notify/readyz": 503}))
    assert problems == [
        "docs/api.md lists no GET /{service}/metrics",
        "notify: GET /notify/readyz answered 503",
    ]


def test_a_service_that_does_not_answer_is_reported():
    def fetch(path: str) -> tuple[int, bytes]:
        if path.startswith("/dispatch/"):
            raise ConnectionRefusedError("connection refused")
        return server(specs())(path)

    problems, _ = contract.check(DOC, fetch)
    assert "dispatch: no /dispatch/openapi.json (connection refused)" in problems
    assert "dispatch: GET /dispatch/healthz (connection refused)" in problems


def test_rows_that_are_not_operations_are_reported():
    doc = DOC + "| FETCH | `/intake/v1/x` | staff | ? |\n| GET | `/billing/v1/x` | staff | ? |\n"
    doc += "| GET | `/audit/v1/events` | admin | again |\n"
    problems, _ = contract.check(doc, server(specs()))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "not an operation: FETCH /intake/v1/x",
        "GET /billing/v1/x is under no service (intake, dispatch, notify, audit)",
        "GET /audit/v1/events is listed again (line 7)",
    ]


@pytest.mark.parametrize("broken, status", [(False, 0), (True, 1)])
def test_the_exit_status_says_whether_all_is_well(tmp_path, monkeypatch, capsys, broken, status):
    doc = tmp_path / "api.md"
    doc.write_text(without(DOC, "| POST |") if broken else DOC, encoding="utf-8")
    monkeypatch.setattr(contract, "http_fetch", lambda base: server(specs()))
    assert contract.main(["http://server", "--doc", str(doc)]) == status
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"problems: {'1' if broken else 'none'}")


def test_the_contract_covers_every_service_with_known_roles():
    ops = contract.read_operations(contract.DOC.read_text(encoding="utf-8"))
    assert contract.SERVICES == SERVICES
    assert {op.service for op in ops} == {*SERVICES, contract.EVERY_SERVICE}
    assert {role for op in ops for role in op.roles} <= {*ROLES, "anyone"}
    assert all(op.roles for op in ops)
