"""Exports stream the trail with its hashes and checkpoints; ``whistle audit verify`` re-checks a
JSON Lines export offline and says exactly what GET /verify says."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import pytest

from services.cli import main
from tests.integration.audit.sqlite import trail


@pytest.fixture
def key_file(client, auditor, tmp_path):
    path = tmp_path / "audit.pub.pem"
    path.write_text(client.get("/v1/checkpoints/key", headers=auditor).json["public_key_pem"])
    return path


def export(client, auditor, tmp_path, query="") -> str:
    response = client.get(f"/v1/export?format=jsonl{query}", headers=auditor)
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    path = tmp_path / f"export-{uuid.uuid4().hex}.jsonl"
    path.write_bytes(response.get_data())
    return str(path)


def offline(path, key_file, capsys) -> tuple[int, dict]:
    code = main(["audit", "verify", path, "--key", str(key_file)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    return code, json.loads(lines[0])


def test_an_export_verifies_offline_exactly_as_the_api_does(rt, signer, client, auditor, tmp_path, key_file, capsys):
    trail.seed(rt, signer)
    trail.append(rt, trail.closed())  # one row past the last checkpoint
    code, summary = offline(export(client, auditor, tmp_path), key_file, capsys)
    assert code == 0
    assert summary == client.get("/v1/verify", headers=auditor).json
    assert summary["checked"] == 11 and summary["checkpoint"] == {"size": 10, "ok": True}


def test_awkward_rows_verify_offline_as_they_do_in_the_api(rt, client, auditor, tmp_path, key_file, capsys):
    trail.append(rt, trail.awkward(), trail.awkward(structured=True), trail.closed())
    code, summary = offline(export(client, auditor, tmp_path), key_file, capsys)
    assert (code, summary) == (0, client.get("/v1/verify", headers=auditor).json)
    assert (summary["ok"], summary["checked"]) == (True, 3)


@pytest.mark.parametrize("tamper", trail.TAMPERS, ids=lambda t: t.__name__)
def test_an_export_of_a_tampered_trail_fails_offline_as_the_api_does(
    rt, signer, client, auditor, tmp_path, key_file, capsys, tamper
):
    trail.seed(rt, signer)
    trail.drop_triggers(rt.engine)
    tamper(rt, signer)
    code, summary = offline(export(client, auditor, tmp_path), key_file, capsys)
    api = client.get("/v1/verify", headers=auditor).json
    if tamper is trail.change_column:
        # Only a query column changed; an export carries what was hashed, which is intact.
        assert (code, summary["ok"], api["ok"]) == (0, True, False)
    else:
        assert (code, summary) == (1, api)


def test_an_edited_or_cut_export_fails(rt, signer, client, auditor, tmp_path, key_file, capsys):
    trail.seed(rt, signer)
    path = export(client, auditor, tmp_path)
    lines = Path(path).read_text().splitlines()
    edited = tmp_path / "edited.jsonl"
    edited.write_text("\n".join(lines).replace("n7", "n0") + "\n")
    code, summary = offline(str(edited), key_file, capsys)
    assert (code, summary["first_bad_seq"]) == (1, 7)
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:-3]) + "\n")  # the last two rows and the end line
    code, summary = offline(str(cut), key_file, capsys)
    assert (code, summary["first_bad_seq"], summary["checkpoint"]) == (1, 9, {"size": 10, "ok": False})


def test_a_filtered_export_still_verifies_row_by_row(rt, signer, client, auditor, tmp_path, key_file, capsys):
    case_id = str(uuid.uuid4())
    for i in range(6):
        trail.append(rt, trail.closed(case_id if i % 2 else None, note=f"n{i}"))
    path = export(client, auditor, tmp_path, f"&case_id={case_id}")
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()][1:-1]
    assert [r["seq"] for r in rows] == [2, 4, 6]
    code, summary = offline(path, key_file, capsys)
    assert (code, summary["ok"], summary["checked"]) == (0, True, 3)
    forged = Path(path).read_text().replace(rows[1]["prev_chain_hash"], "00" * 32)
    (tmp_path / "forged.jsonl").write_text(forged)
    code, summary = offline(str(tmp_path / "forged.jsonl"), key_file, capsys)
    assert (code, summary["first_bad_seq"]) == (1, 4)


def test_csv_export_has_every_row_with_its_hashes(rt, client, auditor):
    events = [trail.closed() for _ in range(3)]
    trail.append(rt, *events)
    response = client.get("/v1/export?format=csv", headers=auditor)
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [r["event_id"] for r in rows] == [e["id"] for e in events]
    assert rows[1]["prev_chain_hash"] == rows[0]["chain_hash"] and json.loads(rows[2]["canonical"])["seq"] == 3


def test_verify_refuses_a_file_that_is_not_an_export(tmp_path, key_file, capsys):
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    assert main(["audit", "verify", str(path), "--key", str(key_file)]) == 1
    assert "not a Whistle audit export" in capsys.readouterr().err
