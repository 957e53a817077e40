"""Auditors and admins read; nobody writes. There is no write path at all."""

from __future__ import annotations

import re

import pytest

from tests.integration.audit.sqlite import trail

READS = [
    "/v1/events",
    "/v1/events/1",
    "/v1/cases/00000000-0000-0000-0000-000000000000/timeline",
    "/v1/verify",
    "/v1/checkpoints",
    "/v1/checkpoints/key",
    "/v1/export?format=csv",
    "/v1/reports/departments",
]


def test_the_openapi_document_declares_only_get(client):
    paths = client.get("/openapi.json").json["paths"]
    assert {p.split("{")[0] for p in paths} >= {"/v1/events", "/v1/verify", "/v1/export", "/v1/access-log"}
    methods = {method for operations in paths.values() for method in operations if method != "parameters"}
    assert methods == {"get"}


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_path_refuses_writes_with_405(audit, client, method):
    admin = audit.headers("admin")
    rules = [r for r in audit.apps["audit"].url_map.iter_rules() if r.endpoint != "static"]
    assert len(rules) > 10
    for rule in rules:
        path = re.sub(r"<(?:\w+:)?(\w+)>", "1", rule.rule)
        response = client.open(path, method=method, headers=admin, json={})
        assert response.status_code == 405, (path, response.status_code)
        assert response.json["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("role", "claims", "status"),
    [
        ("auditor", {}, 200),
        ("admin", {}, 200),
        ("staff", {"community": "武泰闸社区"}, 403),
        ("department", {"department": "water"}, 403),
        ("service", {}, 403),
        (None, {}, 401),
    ],
)
def test_role_matrix(audit, rt, client, role, claims, status):
    trail.append(rt, trail.closed())
    headers = audit.headers(role, **claims) if role else {}
    for path in READS:
        response = client.get(path, headers=headers)
        assert response.status_code == status, (path, response.json if status != 200 else None)
        response.close()
    access = client.get("/v1/access-log", headers=headers).status_code
    assert access == {"admin": 200, None: 401}.get(role, 403)
