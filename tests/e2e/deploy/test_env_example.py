"""deploy/.env.example: the settings compose reads, all of them and no others."""

from __future__ import annotations

from tests.e2e.deploy.files import DEPLOY, compose_variables, env_file, interpolate


def test_env_example_lists_every_setting():
    example = env_file(DEPLOY / ".env.example")
    used = compose_variables(DEPLOY / "docker-compose.yml") | compose_variables(DEPLOY / "docker-compose.cluster.yml")
    assert used == set(example), "deploy/.env.example and the compose files disagree"
    # The example as shipped satisfies every required variable.
    for path in ("docker-compose.yml", "docker-compose.cluster.yml"):
        interpolate((DEPLOY / path).read_text(), example)
