"""THREATS #1-#3, #11, #13 against the mounted routes: each attack's status AND that nothing changed."""

from __future__ import annotations

import ast
import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from comfyui_model_library.core.library import Library
from comfyui_model_library.server_routes import GuardSettings, RunnerOptions
from comfyui_model_library.server_routes.guards import (
    Policy,
    RequestFacts,
    check,
    host_allowed,
    is_loopback_client,
    listens_beyond_loopback,
    split_listen,
)
from tests.package_files import package_files
from tests.server_routes.conftest import JSON_HEADERS, V1, model_file, snapshot

LOCAL = GuardSettings()


def facts(**kw: Any) -> RequestFacts:
    base: dict[str, Any] = {
        "method": "POST",
        "host": "127.0.0.1:8188",
        "origin": None,
        "content_type": "application/json",
        "custom_header": "1",
        "remote": "127.0.0.1",
    }
    base.update(kw)
    return RequestFacts(**base)


def refusal(f: RequestFacts, policy: Policy = Policy.CHANGE, settings: GuardSettings = LOCAL) -> str | None:
    try:
        check(f, policy, settings)
    except Exception as exc:
        return exc.code  # type: ignore[attr-defined]
    return None


# -- the decision function ---------------------------------------------------------------------------


def test_decision_allows_the_panel() -> None:
    assert refusal(facts()) is None
    assert refusal(facts(origin="http://127.0.0.1:8188")) is None
    assert refusal(facts(host="localhost:8188", origin="http://localhost:8188")) is None
    assert refusal(facts(host="[::1]:8188", origin="http://[::1]:8188", remote="::1")) is None
    assert refusal(facts(content_type="application/json; charset=utf-8")) is None
    # The same origin written differently: default ports, case, a trailing dot.
    assert refusal(facts(host="127.0.0.1", origin="http://127.0.0.1:80")) is None
    assert refusal(facts(host="127.0.0.1:80", origin="http://127.0.0.1")) is None
    assert refusal(facts(host="LocalHost:8188", origin="http://localhost.:8188")) is None
    assert refusal(facts(origin="HTTP://127.0.0.1:8188")) is None
    # A server speaking TLS itself: its https origin matches, with or without the default port.
    assert refusal(facts(scheme="https", host="127.0.0.1", origin="https://127.0.0.1:443")) is None
    assert refusal(facts(scheme="https", host="127.0.0.1:8443", origin="https://127.0.0.1:8443")) is None
    assert refusal(facts(scheme="https", host="127.0.0.1:8443", origin="http://127.0.0.1:8443")) is not None
    assert refusal(facts(method="GET", content_type=None, custom_header=None), Policy.READ) is None


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"content_type": "text/plain"}, "unsupported_media_type"),
        ({"content_type": "application/x-www-form-urlencoded"}, "unsupported_media_type"),
        ({"content_type": "multipart/form-data; boundary=x"}, "unsupported_media_type"),
        ({"content_type": None}, "unsupported_media_type"),
        ({"custom_header": None}, "missing_client_header"),
        ({"custom_header": "0"}, "missing_client_header"),
        ({"origin": "null"}, "cross_site_request"),
        ({"origin": "http://evil.example"}, "cross_site_request"),
        ({"origin": "http://127.0.0.1:9999"}, "cross_site_request"),
        # Same host and port, other scheme: another origin (issue 13).
        ({"origin": "https://127.0.0.1:8188"}, "cross_site_request"),
        ({"host": "127.0.0.1", "origin": "https://127.0.0.1"}, "cross_site_request"),
        ({"host": "127.0.0.1:443", "origin": "https://127.0.0.1"}, "cross_site_request"),
        ({"origin": "ws://127.0.0.1:8188"}, "cross_site_request"),
        ({"origin": "http://127.0.0.1:"}, "cross_site_request"),
        ({"origin": "http://user@127.0.0.1:8188"}, "cross_site_request"),
        ({"origin": "http://localhost:8188"}, "cross_site_request"),
        ({"host": "localhost:8188", "origin": "http://127.0.0.1:8188"}, "cross_site_request"),
        ({"host": "[::1]:8188", "origin": "http://127.0.0.1:8188"}, "cross_site_request"),
        ({"host": "evil.example:8188", "origin": "http://evil.example:8188"}, "untrusted_host"),
        ({"host": "evil.example"}, "untrusted_host"),
        ({"host": None}, "untrusted_host"),
        ({"host": "localhost:abc"}, "untrusted_host"),
    ],
)
def test_decision_refuses(change: dict[str, Any], code: str) -> None:
    assert refusal(facts(**change)) == code


def test_rebinding_refused_even_for_reads() -> None:
    assert refusal(facts(method="GET", host="evil.example:8188"), Policy.READ) == "untrusted_host"


def test_remote_clients_and_the_opt_in() -> None:
    lan = facts(remote="192.168.1.20", host="192.168.1.5:8188")
    assert refusal(lan, Policy.CHANGE) is None  # a copy import or an edit from the LAN is allowed
    assert refusal(lan, Policy.DESTRUCTIVE) == "remote_changes_disabled"
    assert refusal(lan, Policy.READ) is None
    opted = GuardSettings(listen_host="0.0.0.0", allow_remote_changes=True)
    assert refusal(lan, Policy.DESTRUCTIVE, opted) is None
    assert refusal(facts(remote="::ffff:127.0.0.1"), Policy.DESTRUCTIVE) is None
    try:
        check(lan, Policy.DESTRUCTIVE, LOCAL)
    except Exception as exc:
        assert "ModelLibrary.AllowRemoteChanges" in str(exc) and "MODEL_LIBRARY_ALLOW_REMOTE" in str(exc)


@pytest.mark.parametrize(
    ("listen", "bind", "names"),
    [
        ("", "127.0.0.1", ()),
        ("0.0.0.0", "0.0.0.0", ()),
        ("127.0.0.1,0.0.0.0,comfy.lan", "0.0.0.0", ("127.0.0.1", "comfy.lan")),
        ("127.0.0.1, 192.168.1.5", "192.168.1.5", ("127.0.0.1",)),
        ("localhost,::1", "localhost", ("::1",)),
        # the names the guards call loopback are loopback here too: the LAN address decides
        ("localhost.localdomain,10.0.0.2", "10.0.0.2", ("localhost.localdomain",)),
        ("LocalHost,[::],10.0.0.2", "[::]", ("LocalHost", "10.0.0.2")),
    ],
)
def test_comfyuis_listen_addresses_give_one_bind_address_and_host_names(
    listen: str, bind: str, names: tuple[str, ...]
) -> None:
    assert split_listen(listen) == (bind, names)
    remote_clients = bind not in ("127.0.0.1", "localhost")
    assert listens_beyond_loopback(GuardSettings(listen_host=bind)) is remote_clients


def test_the_loopback_and_wildcard_names_are_written_once() -> None:
    # _host.py and guards.py each had their own sets, and they differed. Any other set literal naming
    # these addresses is a second copy.
    package = Path(__file__).resolve().parents[2]
    home = package / "server_routes" / "guards.py"
    copies = []
    for path in package_files(package):
        rel = path.relative_to(package)
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, (ast.Set, ast.Tuple, ast.List)) and path != home:
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if values & {"::1", "0.0.0.0", "::", "localhost"}:
                    copies.append(f"{rel.as_posix()}:{node.lineno}")
    assert not copies, f"use server_routes.guards.LOOPBACK_NAMES / WILDCARD_BINDS instead of: {copies}"


def test_settings_helpers() -> None:
    assert is_loopback_client("127.0.0.5") and is_loopback_client("::1")
    assert not is_loopback_client("10.0.0.1") and not is_loopback_client(None) and not is_loopback_client("x")
    assert listens_beyond_loopback(GuardSettings(listen_host="0.0.0.0"))
    assert not listens_beyond_loopback(GuardSettings(listen_host="localhost"))
    named = GuardSettings(allowed_hosts=("comfy.lan",))
    assert host_allowed("comfy.lan:8188", named) and not host_allowed("comfy.lan.evil:8188", named)
    env = GuardSettings.from_env(
        environ={"MODEL_LIBRARY_ALLOW_REMOTE": "1", "MODEL_LIBRARY_ALLOWED_HOSTS": "a,b"}
    )
    assert env.allow_remote_changes and env.allowed_hosts == ("a", "b")


# -- through the server ------------------------------------------------------------------------------


@pytest.fixture
def world(library: Library, incoming: Path) -> dict[str, Any]:
    src = model_file(incoming, "victim.safetensors", seed=1)
    items = library.imports.import_paths([src])
    assert items[0].status == "imported"
    return {"model_id": items[0].model.id, "src": src}  # type: ignore[union-attr]


def attack_targets(world: dict[str, Any], incoming: Path) -> list[tuple[str, str, dict[str, Any]]]:
    mid = world["model_id"]
    other = model_file(incoming, "other.safetensors", seed=2)
    return [
        ("POST", "/imports", {"paths": [str(other)], "mode": "copy"}),
        ("POST", "/imports", {"paths": [str(other)], "mode": "move"}),
        ("PATCH", f"/models/{mid}", {"name": "pwned"}),
        ("DELETE", f"/models/{mid}", {}),
        ("POST", "/uploads", {"filename": "x.safetensors", "size": 10}),
        ("POST", "/hf/downloads", {"repo_id": "a/b", "filename": "x.safetensors"}),
        ("PUT", "/mapping", {}),
        ("POST", "/mapping/apply", {}),
        ("POST", "/sources", {"path": str(incoming)}),
        ("DELETE", "/sources/1", {}),
        ("POST", "/scan", {}),
        ("POST", "/health/repair", {}),
    ]


ATTACKS: dict[str, tuple[dict[str, str], str, int]] = {
    # name: (headers, body encoding, expected status)
    "text_plain_form": ({"Content-Type": "text/plain"}, "text", 415),
    "urlencoded_form": ({"Content-Type": "application/x-www-form-urlencoded"}, "form", 415),
    "multipart_form": ({"Content-Type": "multipart/form-data; boundary=xx"}, "multipart", 415),
    "no_cors_fetch_text_plain_with_origin": (
        {"Content-Type": "text/plain", "Origin": "http://evil.example"},
        "text",
        403,
    ),
    "json_without_custom_header": ({"Content-Type": "application/json"}, "json", 403),
    "origin_null": ({**JSON_HEADERS, "Origin": "null"}, "json", 403),
    "dns_rebinding": (
        {**JSON_HEADERS, "Host": "evil.example:8188", "Origin": "http://evil.example:8188"},
        "json",
        403,
    ),
    "other_origin": ({**JSON_HEADERS, "Origin": "http://evil.example"}, "json", 403),
}


def _encode(body: dict[str, Any], how: str) -> bytes:
    import json
    from urllib.parse import urlencode

    if how == "form":
        return urlencode({k: str(v) for k, v in body.items()}).encode()
    if how == "multipart":
        return (
            b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n'
            + json.dumps(body).encode()
            + b"\r\n--xx--\r\n"
        )
    return json.dumps(body).encode()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
async def test_attacks_refused_and_nothing_changes(
    client: Any, library: Library, incoming: Path, world: dict[str, Any], attack: str
) -> None:
    headers, how, status = ATTACKS[attack]
    targets = attack_targets(world, incoming)
    before = snapshot(library.config.root, incoming, library=library)
    for method, path, body in targets:
        resp = await client.request(method, V1 + path, data=_encode(body, how), headers=headers)
        assert resp.status == status, (attack, method, path, await resp.text())
        payload = await resp.json()
        assert set(payload["error"]) == {"code", "message"}
        assert "access-control-allow-origin" not in {k.lower() for k in resp.headers}
    await asyncio.sleep(0.05)
    assert snapshot(library.config.root, incoming, library=library) == before


async def test_get_never_changes_state(
    client: Any, library: Library, incoming: Path, world: dict[str, Any]
) -> None:
    before = snapshot(library.config.root, incoming, library=library)
    for path, status in (
        ("/models", 200),
        (f"/models/{world['model_id']}", 200),
        ("/jobs", 200),
        ("/status", 200),
        ("/uploads/abc", 404),  # no such upload (JSON not_found)
        ("/imports", 404),  # no GET route there
        ("/scan", 404),
    ):
        resp = await client.get(V1 + path)
        assert resp.status == status, path
    assert snapshot(library.config.root, incoming, library=library) == before


async def test_preflight_is_never_granted(client: Any) -> None:
    resp = await client.options(
        V1 + "/imports",
        headers={
            "Origin": "http://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-model-library",
        },
    )
    assert resp.status == 405  # no route answers OPTIONS
    assert not any(k.lower().startswith("access-control-allow") for k in resp.headers)


async def test_two_gigabyte_json_body_refused_without_reading(
    client: Any, library: Library, incoming: Path
) -> None:
    before = snapshot(library.config.root, incoming, library=library)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        (
            f"POST {V1}/imports HTTP/1.1\r\nHost: 127.0.0.1:{client.port}\r\n"
            "Content-Type: application/json\r\n"
            f"X-Model-Library: 1\r\nContent-Length: {2 * 1024**3}\r\n\r\n"
        ).encode()
        + b'{"paths": ['
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert b" 413 " in status_line
    assert snapshot(library.config.root, incoming, library=library) == before


async def test_body_over_limit_without_content_length(client: Any) -> None:
    async def chunks():
        for _ in range(100):
            yield b" " * 1024

    resp = await client.post(V1 + "/imports", data=chunks(), headers=JSON_HEADERS)
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"


async def test_thousand_parallel_imports_hit_the_bound(
    make_client: Any, library: Library, incoming: Path
) -> None:
    client = await make_client(runner_options=RunnerOptions(queues={"io": 1, "download": 1}, max_queued=20))
    runner = await client.ctx.runner()
    gate = threading.Event()
    blocker = runner.submit("block", lambda p, c: gate.wait(20))
    src = model_file(incoming, "flood.safetensors", seed=3)
    before_models = library.db.execute_read("SELECT count(*) FROM models")[0][0]
    body = {"paths": [str(src)], "mode": "copy"}
    try:
        answers = await asyncio.gather(
            *(client.post(V1 + "/imports", json=body, headers={"X-Model-Library": "1"}) for _ in range(1000))
        )
        statuses = [r.status for r in answers]
        assert statuses.count(202) == 20
        assert statuses.count(429) == 980
        busy = await next(r for r in answers if r.status == 429).json()
        assert busy["error"]["code"] == "busy"
        # Nothing of the refused requests was recorded; the accepted ones are cancelled before running.
        assert library.db.execute_read("SELECT count(*) FROM jobs WHERE kind = 'import'")[0][0] == 20
        for job in runner.list_jobs(states=("queued",)):
            runner.cancel(job.id)
    finally:
        gate.set()
    await asyncio.sleep(0.1)
    assert runner.get(blocker.id).finished
    assert library.db.execute_read("SELECT count(*) FROM models")[0][0] == before_models


@pytest.mark.parametrize("q", ['"', "NEAR(", "col:*", "a OR", "*", "'; DROP TABLE models; --"])
async def test_search_input_never_500(client: Any, q: str) -> None:
    resp = await client.get(V1 + "/models", params={"q": q})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["total"] == 0


async def test_long_search_is_a_400(client: Any) -> None:
    resp = await client.get(V1 + "/models", params={"q": "x" * 1024})
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "invalid_input"


async def test_megabyte_search_refused(client: Any) -> None:
    resp = await client.get(V1 + "/models", params={"q": "x" * 5000})
    assert resp.status == 400
    huge = await client.get(V1 + "/models?q=" + "x" * 1_000_000)
    assert huge.status == 400  # refused by the HTTP parser (line over 8190 bytes), never read in full


async def test_https_proxy_on_this_machine_passes_the_origin_check(client: Any, library: Library) -> None:
    """nginx (https for the browser) -> ComfyUI (http, from 127.0.0.1) with `Host $host`: the browser's
    Origin is https. Without X-Forwarded-Proto the panel behind such a proxy could change nothing."""
    host = f"127.0.0.1:{client.port}"
    body = {"paths": ["/nowhere/x.safetensors"]}  # refused after the guards: 400 unsafe_path
    before = snapshot(library.config.root, library=library)
    for origin, forwarded, status, code in (
        (f"https://{host}", None, 403, "cross_site_request"),
        (f"https://{host}", "https", 400, "unsafe_path"),
        (f"http://{host}", "https", 403, "cross_site_request"),
        (f"https://{host}", "ftp", 403, "cross_site_request"),
        (f"http://{host}", None, 400, "unsafe_path"),
    ):
        headers = {**JSON_HEADERS, "Host": host, "Origin": origin}
        if forwarded:
            headers["X-Forwarded-Proto"] = forwarded
        resp = await client.post(V1 + "/imports", json=body, headers=headers)
        answer = await resp.json()
        assert (resp.status, answer["error"]["code"]) == (status, code), (origin, forwarded, answer)
    assert snapshot(library.config.root, library=library) == before
