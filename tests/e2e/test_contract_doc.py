"""docs/api.md against the four apps built in the test process, mounted under their prefixes as
`whistle dev` mounts them: the same check `make contract` runs on a server, and the roles column
against the roles each view requires."""

from __future__ import annotations

import re

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client

from services.intake import open311
from tests.platform import Platform, dev_config
from tools import contract

CONTRACT = contract.DOC.read_text(encoding="utf-8")
OPERATIONS = contract.read_operations(CONTRACT)
# Operations that check a role themselves instead of a bearer token's: Open311's POST reads its api_key.
OWN_CHECK = {("intake", "POST", "/open311/v2/requests.{}"): open311.SUBMITTER_ROLES}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    built = Platform(dev_config(tmp_path_factory.mktemp("contract")))
    yield built
    built.stop()


@pytest.fixture(scope="module")
def fetch(platform):
    client = Client(DispatcherMiddleware(lambda _environ, _start: [], {f"/{s}": a for s, a in platform.apps.items()}))

    def get(path: str) -> tuple[int, bytes]:
        response = client.get(path)
        return response.status_code, response.get_data()

    return get


def test_the_apps_keep_docs_api_md(fetch):
    problems, summary = contract.check(CONTRACT, fetch)
    assert problems == [], summary


@pytest.fixture(scope="module")
def specs(fetch):
    return contract.fetch_specs(fetch)


@pytest.mark.parametrize("row", [op for op in OPERATIONS if op.service in contract.SERVICES], ids=str)
def test_a_row_removed_from_the_contract_is_reported(specs, row):
    lines = CONTRACT.splitlines()
    del lines[row.line - 1]
    problems = contract.compare(contract.read_operations("\n".join(lines)), specs)
    assert len(problems) == 1, problems
    service, declares, method, path = problems[0].split(",")[0].split()
    assert (service, declares, method, contract.shape(path)) == (
        row.service,
        "declares",
        row.method,
        contract.shape(row.path),
    )


def view_roles(platform) -> dict[tuple[str, str, str], set[str]]:
    """(service, METHOD, path shape) → the roles its view lets in; "anyone" where it asks for no token."""
    roles = {}
    for service, app in platform.apps.items():
        for rule in app.url_map.iter_rules():
            path = contract.shape(re.sub(r"<[^>]*>", "{}", rule.rule))
            for method in rule.methods & set(contract.METHODS):
                key = (service, method, path)
                allowed = getattr(app.view_functions[rule.endpoint], "_whistle_roles", None) or OWN_CHECK.get(key)
                roles[key] = set(allowed or ("anyone",))
    return roles


def test_the_roles_column_is_what_each_view_requires(platform):
    roles = view_roles(platform)
    wrong = []
    for op in OPERATIONS:
        for service in contract.SERVICES if op.service == contract.EVERY_SERVICE else (op.service,):
            required = roles.get((service, op.method, contract.shape(op.local_path)))
            if required != set(op.roles):
                wrong.append(f"line {op.line}: {op} says {', '.join(op.roles)}; {service} lets in {required}")
    assert wrong == []
