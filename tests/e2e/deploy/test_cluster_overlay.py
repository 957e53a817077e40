"""deploy/docker-compose.cluster.yml, the overlay for a three-node RabbitMQ cluster, read as YAML
and merged with the base file as compose would."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.deploy.files import (
    CLUSTER_NODES,
    GRANTED,
    HEALTHY,
    ONE_SHOTS,
    WEBS,
    WORKERS,
    healthcheck_text,
    interpolate,
)


def test_cluster_has_three_rabbitmq_nodes(base, cluster):
    services = cluster["services"]
    nodes = {
        "rabbitmq": services["rabbitmq"],
        "rabbitmq-2": services["rabbitmq-2"],
        "rabbitmq-3": services["rabbitmq-3"],
    }
    assert [n["hostname"] for n in nodes.values()] == list(CLUSTER_NODES)
    assert services["rabbitmq"]["networks"]["default"]["aliases"] == ["rabbitmq-1"]
    for name, node in nodes.items():
        image = node.get("image", base["services"].get(name, {}).get("image"))
        assert image == "rabbitmq:3.10-management", name
        assert "RABBITMQ_ERLANG_COOKIE" in node["environment"], name
        assert node["configs"][0]["target"].startswith("/etc/rabbitmq/conf.d/"), name
        assert "rabbitmq-diagnostics" in healthcheck_text(node), name
        assert len(node["volumes"]) == 1, name
    assert len({n["volumes"][0] for n in nodes.values()}) == 3  # a data volume per node

    config = cluster["configs"]["rabbitmq-cluster"]["content"]
    assert "cluster_formation.peer_discovery_backend = classic_config" in config
    listed = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = rabbit@(\S+)$", config, re.M)
    assert listed == list(CLUSTER_NODES)


@pytest.mark.parametrize("process", WEBS + WORKERS)
def test_cluster_broker_url_lists_every_node(cluster, process):
    overlay = cluster["services"][process]
    urls = [urlsplit(u) for u in interpolate(overlay["environment"]["WHISTLE_BROKER_URL"]).split(";")]
    assert [u.hostname for u in urls] == list(CLUSTER_NODES)
    assert {(u.scheme, u.port, u.username) for u in urls} == {("amqp", 5672, "whistle")}
    if process.endswith("-worker"):
        assert overlay["depends_on"] == {"rabbitmq-2": HEALTHY, "rabbitmq-3": HEALTHY}


def test_cluster_keeps_audit_on_its_insert_only_role(base, cluster):
    """Compose merges an overlay's environment and depends_on into the base's, key by key: the
    cluster changes the broker only, and the one-shots, which use no broker, not at all."""
    for name in ONE_SHOTS:
        assert name not in cluster["services"], name
    for process in ("audit-web", "audit-worker"):
        overlay = cluster["services"][process]
        assert set(overlay["environment"]) == {"WHISTLE_BROKER_URL"}, process
        merged = {**base["services"][process]["depends_on"], **overlay.get("depends_on", {})}
        assert merged["audit-grant"] == GRANTED and "migrate" not in merged, process
