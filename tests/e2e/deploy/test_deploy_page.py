"""docs/deploy.md documents every setting and one-shot process the compose file has."""

from __future__ import annotations

from tests.e2e.deploy.files import DEPLOY, ONE_SHOTS, ROOT, WEBS, WORKERS, command_of, env_file


def test_deploy_page_documents_every_variable(base):
    page = (ROOT / "docs" / "deploy.md").read_text()
    names = set(env_file(DEPLOY / ".env.example"))
    for name in [*WEBS, *WORKERS, *ONE_SHOTS]:
        names |= set(base["services"][name]["environment"])
    for name in ONE_SHOTS:
        assert f"| {name} | `{command_of(base['services'][name])}` |" in page, f"{name} not in the process table"
    missing = sorted(n for n in names if f"`{n}`" not in page)
    assert not missing, f"docs/deploy.md does not mention {missing}"
