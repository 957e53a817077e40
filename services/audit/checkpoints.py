"""Signed checkpoints: every N rows or M minutes, an Ed25519 signature over (origin, size, head,
time), kept in the database and appended to a file outside it. Whoever holds the public key can
then tell that the first ``size`` rows are unchanged and that none of them was deleted."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.config import Settings
from services.common.db import insert_ignore

from .models import CheckpointEntry, TrailEntry

log = logging.getLogger(__name__)

FILE_NAME = "checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    head: str
    time: str
    key_id: str
    signature: str

    def message(self) -> bytes:
        """The signed bytes: one field a line, like a transparency log's checkpoint note."""
        return f"{self.origin}\n{self.size}\n{self.head}\n{self.time}\n".encode()

    def signature_ok(self, public_key: Ed25519PublicKey) -> bool:
        try:
            public_key.verify(base64.b64decode(self.signature), self.message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Checkpoint:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def load_or_create_key(path: str | None, data_dir: Path) -> Ed25519PrivateKey:
    """The signing key from ``path``; without one, a key under the data dir, made on first start."""
    if path:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return key
    generated = data_dir / "audit-checkpoint-key.pem"
    try:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        generated.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: the web process and the worker may start together; the first one's key wins.
        fd = os.open(generated, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        log.warning(
            "WHISTLE_AUDIT_CHECKPOINT_KEY is not set: generated a checkpoint signing key at %s; "
            "set the variable to a key kept outside the data dir in any real deployment",
            generated,
        )
        return key
    except FileExistsError:
        return load_or_create_key(str(generated), data_dir)


@dataclass
class Signer:
    """Everything checkpointing needs, read from the settings once when a process starts."""

    key: Ed25519PrivateKey
    origin: str
    directory: Path
    every: int
    minutes: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        return cls(
            key=load_or_create_key(settings.get("AUDIT_CHECKPOINT_KEY"), settings.data_dir),
            origin=settings.get("AUDIT_ORIGIN", f"whistle-audit/{settings.get('DEPLOYMENT', 'default')}"),
            directory=Path(settings.get("AUDIT_CHECKPOINT_DIR") or settings.data_dir / "checkpoints"),
            every=int(settings.get("AUDIT_CHECKPOINT_EVERY", 1000)),
            minutes=float(settings.get("AUDIT_CHECKPOINT_MINUTES", 5)),
        )

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.key.public_key()

    def sign(self, size: int, head: str, moment: datetime) -> Checkpoint:
        time = moment.isoformat().replace("+00:00", "Z")
        unsigned = Checkpoint(self.origin, size, head, time, key_id(self.public_key), "")
        signature = base64.b64encode(self.key.sign(unsigned.message())).decode()
        return Checkpoint(self.origin, size, head, time, unsigned.key_id, signature)

    def write_file(self, checkpoint: Checkpoint) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        line = json.dumps(checkpoint.as_dict(), sort_keys=True) + "\n"
        fd = os.open(self.directory / FILE_NAME, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def read_file(self) -> list[Checkpoint]:
        path = self.directory / FILE_NAME
        if not path.exists():
            return []
        found = []
        for line in path.read_text().splitlines():
            try:
                found.append(Checkpoint.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping an unreadable line in %s", path)
        return found


def stored(session: Session) -> list[Checkpoint]:
    rows = session.execute(select(CheckpointEntry).order_by(CheckpointEntry.size)).scalars()
    return [Checkpoint(r.origin, r.size, r.head, r.time, r.key_id, r.signature) for r in rows]


def known(session: Session, signer: Signer) -> list[Checkpoint]:
    """The database's checkpoints and the file's, together: an owner who rewrites the trail and its
    checkpoint rows still meets the copies outside the database."""
    return sorted(set(stored(session)) | set(signer.read_file()), key=lambda c: (c.size, c.time))


def checkpoint_if_due(session: Session, signer: Signer, now: datetime, *, force: bool = False) -> Checkpoint | None:
    """Sign the current head when ``every`` rows arrived since the last checkpoint, or ``minutes``
    passed with anything new at all."""
    head = session.execute(
        select(TrailEntry.seq, TrailEntry.chain_hash).order_by(TrailEntry.seq.desc()).limit(1)
    ).first()
    last = session.execute(
        select(CheckpointEntry.size, CheckpointEntry.time).order_by(CheckpointEntry.size.desc()).limit(1)
    ).first()
    if head is None or (last and last.size >= head.seq):
        return None
    if not force:
        # The clock starts at the last checkpoint, or at the first row for the very first one.
        since = (
            datetime.fromisoformat(last.time.replace("Z", "+00:00"))
            if last
            else session.scalar(select(TrailEntry.recorded_at).where(TrailEntry.seq == 1)) or now
        )
        size = last.size if last else 0
        if head.seq - size < signer.every and now - since < timedelta(minutes=signer.minutes):
            return None
    checkpoint = signer.sign(head.seq, head.chain_hash, now)
    # Several workers may race to sign the same size: the first row stands, the rest are no-ops.
    if not insert_ignore(session, CheckpointEntry.__table__, checkpoint.as_dict()):
        return None
    signer.write_file(checkpoint)  # before commit: a file line without its row is still a true statement
    return checkpoint
