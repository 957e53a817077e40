"""An auditor's round trip against the running platform: a case flows in, the trail is exported
over HTTP, and `whistle audit verify` (a separate process) agrees with GET /verify."""

from __future__ import annotations

import json
import os
import subprocess

import requests

from tests.e2e.conftest import WHISTLE
from tests.platform import wait_for


def test_an_exported_trail_verifies_offline_like_the_api(dev_server, auditor, tmp_path):
    base, env = dev_server
    staff = subprocess.run(
        [WHISTLE, "token", "--role", "staff", "--community", "武泰闸社区"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    case = requests.post(
        f"{base}/intake/v1/cases",
        headers={"Authorization": f"Bearer {staff}"},
        json={
            "title": "楼道冰柱",
            "category": "water_supply",
            "location": {"address": "武泰闸社区 5 栋"},
            "reporter": {"name": "尹师傅", "phone": "13800138000"},
        },
    ).json()
    trail = wait_for(
        lambda: requests.get(f"{base}/audit/v1/cases/{case['id']}/timeline", headers=auditor).json()["items"],
        what="the case's trail",
    )
    assert trail[0]["type"] == "case.reported" and "13800138000" not in json.dumps(trail, ensure_ascii=False)

    def settled():
        """The trail and its checkpoints have caught up with each other (a checkpoint per row)."""
        verdict = requests.get(f"{base}/audit/v1/verify", headers=auditor).json()
        return verdict if verdict["checkpoint"] and verdict["checkpoint"]["size"] == verdict["head"]["seq"] else None

    key = tmp_path / "audit.pub.pem"
    key.write_text(requests.get(f"{base}/audit/v1/checkpoints/key", headers=auditor).json()["public_key_pem"])
    for _ in range(5):  # rows may still arrive between the export and the API's verdict
        api = wait_for(settled, what="a checkpoint at the head")
        export = tmp_path / "trail.jsonl"
        with requests.get(f"{base}/audit/v1/export?format=jsonl", headers=auditor, stream=True) as response:
            assert response.status_code == 200
            export.write_bytes(b"".join(response.iter_content(8192)))
        done = subprocess.run(
            [WHISTLE, "audit", "verify", str(export), "--key", str(key)],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        offline = json.loads(done.stdout)
        if offline["head"] == api["head"]:
            break
    assert done.returncode == 0, done.stderr
    assert offline == api and offline["ok"]
