"""``POST /imports`` refuses paths outside the import roots before it answers, without an existence oracle."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from comfyui_model_library.core.library import Library
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, wait_job


def job_count(library: Library) -> int:
    return int(library.db.execute_read("SELECT count(*) FROM jobs")[0][0])


async def post(client: Any, path: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post(V1 + "/imports", json={"paths": [path]}, headers=JSON_HEADERS)
    return resp.status, await resp.json()


async def test_outside_paths_answer_400_the_same_whether_they_exist_or_not(
    client: Any, library: Library, incoming: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    target = model_file(secret, "id_ed25519.safetensors", seed=5)
    missing = secret / "nothing-here.safetensors"
    (incoming / "out-file").symlink_to(target)
    (incoming / "out-missing").symlink_to(missing)
    (incoming / "out-dir").symlink_to(secret)
    cases = {
        "existing": str(target),
        "missing": str(missing),
        "link to existing": str(incoming / "out-file"),
        "link to missing": str(incoming / "out-missing"),
        "through a linked folder, existing": str(incoming / "out-dir" / target.name),
        "through a linked folder, missing": str(incoming / "out-dir" / missing.name),
        "system file": "/etc/passwd",
    }
    answers = {}
    for label, path in cases.items():
        status, body = await post(client, path)
        assert status == 400, (label, body)
        assert body["error"]["code"] == "unsafe_path", (label, body)
        # Only the text given appears in the answer: existing and missing paths read the same.
        answers[label] = body["error"]["message"].replace(path, "PATH")
    assert len(set(answers.values())) == 1, answers
    assert job_count(library) == 0
    assert target.exists()


async def test_relative_dotdot_and_tilde_paths_are_refused_literally(
    client: Any, library: Library, incoming: Path
) -> None:
    model_file(incoming, "x.safetensors", seed=6)
    home = Path(os.path.expanduser("~"))
    for path in ("~/x.safetensors", "x.safetensors", "../../main.py", "C:\\Users\\u\\x.safetensors"):
        status, body = await post(client, path)
        assert status == 400 and body["error"]["code"] == "unsafe_path", (path, body)
        assert "absolute" in body["error"]["message"]
    status, body = await post(client, str(incoming / ".." / "incoming" / "x.safetensors"))
    assert status == 400 and body["error"]["code"] == "unsafe_path" and "'..'" in body["error"]["message"]
    assert str(home) not in str(body)
    assert job_count(library) == 0


async def test_literal_tilde_inside_a_root_is_a_plain_name(
    client: Any, library: Library, incoming: Path
) -> None:
    folder = incoming / "~"
    folder.mkdir()
    src = model_file(folder, "tilde.safetensors", seed=7)
    status, body = await post(client, str(src))
    assert status == 202, body
    done = await wait_job(client, body["job"]["id"])
    assert done["state"] == "done" and done["result"]["items"][0]["status"] == "imported", done


async def test_a_job_whose_every_item_failed_is_failed(client: Any, library: Library, incoming: Path) -> None:
    bad = incoming / "broken.safetensors"
    bad.write_bytes(b"not a model at all")
    status, body = await post(client, str(bad))
    assert status == 202, body
    done = await wait_job(client, body["job"]["id"])
    assert done["state"] == "failed", done
    [item] = done["result"]["items"]
    assert item["status"] == "failed"
    assert done["error"] == {"code": item["error_code"], "message": item["error"]}
    # Two failures: one summary code, every item kept.
    other = incoming / "broken2.safetensors"
    other.write_bytes(b"nor this")
    resp = await client.post(V1 + "/imports", json={"paths": [str(bad), str(other)]}, headers=JSON_HEADERS)
    done = await wait_job(client, (await resp.json())["job"]["id"])
    assert done["state"] == "failed" and done["error"]["code"] == "import_failed", done
    assert [i["status"] for i in done["result"]["items"]] == ["failed", "failed"]
    assert library.db.execute_read("SELECT count(*) FROM models")[0][0] == 0
