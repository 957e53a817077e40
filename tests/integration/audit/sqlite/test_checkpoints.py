"""Signed checkpoints: every N rows or M minutes, in the database and in a file outside it, with
the public key published for verifiers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.checkpoints import FILE_NAME, Signer, checkpoint_if_due, load_public_key, stored
from services.audit.worker import build_worker
from services.common.config import Settings
from tests.integration.audit.sqlite import trail
from tests.platform import Platform, dev_config, wait_for


def due(rt, signer, now):
    with rt.transaction() as session:
        return checkpoint_if_due(session, signer, now)


def test_a_checkpoint_every_n_rows_or_after_m_minutes(rt, signer):
    signer = replace(signer, every=3, minutes=5)
    now = datetime.now(UTC)
    assert due(rt, signer, now) is None  # nothing to sign yet
    trail.append(rt, *[trail.closed() for _ in range(2)], recorded_at=now)
    assert due(rt, signer, now) is None
    trail.append(rt, trail.closed(), recorded_at=now)
    assert due(rt, signer, now).size == 3
    trail.append(rt, trail.closed(), recorded_at=now)
    assert due(rt, signer, now + timedelta(minutes=4)) is None
    assert due(rt, signer, now + timedelta(minutes=6)).size == 4
    assert due(rt, signer, now + timedelta(minutes=20)) is None  # nothing new since


def test_checkpoints_are_signed_stored_and_written_outside_the_database(rt, signer, client, auditor):
    trail.seed(rt, signer)
    public_key = load_public_key(client.get("/v1/checkpoints/key", headers=auditor).json["public_key_pem"].encode())
    listed = client.get("/v1/checkpoints", headers=auditor).json["items"]
    assert [c["size"] for c in listed] == [10, 4]
    on_file = [json.loads(line) for line in (signer.directory / FILE_NAME).read_text().splitlines()]
    assert sorted(on_file, key=lambda c: -c["size"]) == listed
    with rt.transaction() as session:
        checkpoints = stored(session)
    assert all(c.signature_ok(public_key) for c in checkpoints)
    assert checkpoints[-1].head == client.get("/v1/events/10", headers=auditor).json["chain_hash"]
    assert checkpoints[-1].origin == "whistle-audit/default"
    other = Ed25519PrivateKey.generate().public_key()
    assert not checkpoints[-1].signature_ok(other)


def test_the_key_comes_from_the_configured_file_or_is_made_once(tmp_path):
    made = Signer.from_settings(Settings.load("audit", {"DATA_DIR": str(tmp_path)}))
    again = Signer.from_settings(Settings.load("audit", {"DATA_DIR": str(tmp_path)}))
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert made.public_key.public_bytes(*raw) == again.public_key.public_bytes(*raw)
    assert (tmp_path / "audit-checkpoint-key.pem").stat().st_mode & 0o077 == 0
    key = Ed25519PrivateKey.generate()
    path = tmp_path / "mine.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    configured = Signer.from_settings(
        Settings.load("audit", {"DATA_DIR": str(tmp_path), "AUDIT_CHECKPOINT_KEY": str(path)})
    )
    assert configured.public_key.public_bytes(*raw) == key.public_key().public_bytes(*raw)


def test_the_worker_timer_signs_checkpoints(tmp_path):
    config = dev_config(tmp_path, AUDIT_CHECKPOINT_EVERY=2)
    platform = Platform(config, services=("audit",))
    worker = build_worker(config, consume=False).start()
    try:
        trail.append(platform.runtime("audit"), *[trail.closed() for _ in range(5)])
        listed = wait_for(
            lambda: platform.client("audit").get("/v1/checkpoints", headers=platform.headers("auditor")).json["items"],
            what="a checkpoint",
        )
        assert listed[0]["size"] == 5
    finally:
        worker.stop()
        worker.runtime.engine.dispose()
        platform.stop()
