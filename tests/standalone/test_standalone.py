"""`bunri standalone` then `bunri scan`, as a new user would run them: the platform on one
machine with its embedded stand-ins (SQLite, a folder for objects, a filesystem broker), and the
command line signing in with the demo account it printed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.pictures import photo
from tests.support.processes import worker_process
from tests.support.servers import free_port

BIN = Path(sys.executable).parent
BODY_TIMEOUT_SECONDS = 2


def start_standalone(tmp_path: Path, redis_url: str, **extra: str) -> Iterator[dict[str, str]]:
    port = free_port()
    state = tmp_path / "state"
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "BUNRI_REDIS_URL": redis_url,
        # The embedded stand-ins, even on a machine where the real parts run.
        "BUNRI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bunri.db'}",
        "BUNRI_BROKER_URL": "filesystem://",
        **extra,
    }
    for inherited in ("BUNRI_ENVIRONMENT", "BUNRI_S3_BUCKET"):
        os.environ.pop(inherited, None)
    command = [str(BIN / "bunri"), "standalone", "--port", str(port), "--state-dir", str(state)]
    with worker_process(
        command,
        env=env,
        log_path=tmp_path / "standalone.log",
        ready="bunri scan path/to/photo.jpg",
        timeout=120,
        grace=30,  # it stops its workers first
    ):
        yield env | {"BASE_URL": f"http://127.0.0.1:{port}", "STATE": str(state)}


def bunri(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """A `bunri` client command against the running standalone, signed in as its demo user."""
    return subprocess.run(
        [
            str(BIN / "bunri"),
            *arguments,
            "--base-url",
            env["BASE_URL"],
            "--state-dir",
            env["STATE"],
        ],
        env={**os.environ, **env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def bunri_scan(env: dict[str, str], picture: Path) -> subprocess.CompletedProcess[str]:
    return bunri(env, "scan", str(picture))


@pytest.fixture(scope="module")
def standalone(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    # Nothing about the model is configured: the one the AI worker ships answers.
    yield from start_standalone(
        tmp_path_factory.mktemp("standalone"),
        redis_url,
        BUNRI_GATEWAY_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_SECONDS),
    )


def test_a_photo_gets_its_class_and_guide(standalone: dict[str, str], tmp_path: Path) -> None:
    picture = tmp_path / "bottle.jpg"
    picture.write_bytes(photo())
    result = bunri_scan(standalone, picture)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "완료 completed" in result.stdout
    assert "분류 · Classification" in result.stdout
    assert "배출 방법 · How to dispose of it" in result.stdout
    assert "model: local waste" in result.stdout
    # The embedded object store holds the stripped original and the thumbnail.
    stored = sorted(path.name for path in (Path(standalone["STATE"]) / "objects").rglob("*.jpg"))
    assert stored == ["original.jpg", "thumbnail.jpg"]


def test_every_service_answers_at_the_one_base_url(standalone: dict[str, str]) -> None:
    """Each API of SERVICE_PREFIXES is served in the one process (its OpenAPI document under its
    own prefix), and my-api reads the demo account's profile on the embedded database."""
    from bunri_programs.standalone.gateway import SERVICE_PREFIXES

    base_url = standalone["BASE_URL"]
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for service, prefixes in SERVICE_PREFIXES.items():
            prefix = next(prefix for prefix in prefixes if prefix.startswith("/api/"))
            document = client.get(f"{prefix}/openapi.json")
            assert document.status_code == 200, (service, document.text)
            assert document.json()["info"]["title"].endswith(service), service
        login = json.loads((Path(standalone["STATE"]) / "demo-login.json").read_text())
        tokens = client.post("/api/v1/auth/login", json=login)
        assert tokens.status_code == 200, tokens.text
        bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        profile = client.get("/api/v1/my/profile", headers=bearer)
        assert profile.status_code == 200, profile.text
        assert profile.json()["email"] == login["email"]
        version = profile.json()["version"]
        assert profile.headers["etag"] == f'"{version}"'


def test_locations_answer_their_kinds_and_say_why_searches_are_off_on_sqlite(
    standalone: dict[str, str],
) -> None:
    """location-api is served at the one base URL: its kinds need no database, while a search
    needs PostGIS, which the embedded SQLite lacks; the banner said so in one line."""
    login = json.loads((Path(standalone["STATE"]) / "demo-login.json").read_text())
    with httpx.Client(base_url=standalone["BASE_URL"], timeout=30) as client:
        assert client.get("/api/v1/locations/kinds").status_code == 401
        tokens = client.post("/api/v1/auth/login", json=login)
        assert tokens.status_code == 200, tokens.text
        bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        kinds = client.get("/api/v1/locations/kinds", headers=bearer)
        assert kinds.status_code == 200, kinds.text
        assert "battery" in {kind["code"] for kind in kinds.json()["items"]}
        nearby = client.get(
            "/api/v1/locations/nearby", params={"lat": 37.5665, "lon": 126.978}, headers=bearer
        )
        assert nearby.status_code == 503, nearby.text
        assert nearby.json()["error"]["code"] == "dependency_unavailable"
    banner = (Path(standalone["STATE"]).parent / "standalone.log").read_text()
    (line,) = [line for line in banner.splitlines() if "locations:" in line]
    assert "off: the database is SQLite" in line


def test_the_gateway_is_the_edge_as_nginx_is(standalone: dict[str, str]) -> None:
    """No proxy stands in front of standalone: a client's X-Forwarded-For is not believed (the
    sign-in limits key on the real address), headers are bounded, the server is not named, and
    readiness asks every service."""
    with httpx.Client(base_url=standalone["BASE_URL"], timeout=30) as client:
        email = f"spoofed-{time.time_ns()}@example.com"
        statuses = [
            client.post(
                "/api/v1/auth/login",
                json={"email": email, "password": "not the password"},
                headers={"X-Forwarded-For": f"203.0.113.{attempt}"},
            ).status_code
            for attempt in range(6)
        ]
        # Five failures per (account, address), whatever address the client claims.
        assert statuses == [401] * 5 + [429], statuses

        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["services"].values()) == {"ready"}
        assert "server" not in ready.headers
        assert "server" not in client.get("/api/v1/guides").headers

        huge = client.get("/api/v1/guides", headers={"X-Padding": "x" * 64 * 1024})
        assert huge.status_code in (400, 431)


def test_a_body_that_stops_arriving_is_answered_408(standalone: dict[str, str]) -> None:
    address = urlsplit(standalone["BASE_URL"])
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: bunri\r\n"
            b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"email"'
        )
        started = time.monotonic()
        answer = connection.recv(4096)
        waited = time.monotonic() - started
        # The rest of the answer, to the close it announces: the head and the body may come in
        # separate segments (a pause of the server's, a garbage collection, between its writes).
        while chunk := connection.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"request_timeout" in answer
    assert BODY_TIMEOUT_SECONDS - 0.5 <= waited <= BODY_TIMEOUT_SECONDS + 10


def test_info_search_and_the_guides_answer_without_a_token(standalone: dict[str, str]) -> None:
    """info-api is served at the one base URL: the item search and the guides (moved there from
    scan-api, same paths) are public, with a strong ETag that a second ask names for a 304."""
    with httpx.Client(base_url=standalone["BASE_URL"], timeout=30) as client:
        found = client.get("/api/v1/info/search", params={"q": "배터리"})
        assert found.status_code == 200, found.text
        items = found.json()["items"]
        assert items, found.text
        assert "전지" in {item["middle"] for item in items}
        assert found.headers["cache-control"].startswith("public")
        again = client.get(
            "/api/v1/info/search",
            params={"q": "배터리"},
            headers={"If-None-Match": found.headers["etag"]},
        )
        assert again.status_code == 304
        guides = client.get("/api/v1/guides")
        assert guides.status_code == 200, guides.text
        assert guides.json()["majors"]
        assert guides.headers["etag"].startswith('"')
        first = items[0]
        guide = client.get(first["guide_url"])
        assert guide.status_code == 200, guide.text
        assert guide.json()["middle"] == first["middle"]


def test_a_file_that_is_no_photo_is_refused_clearly(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all")
    result = bunri_scan(standalone, text)
    assert result.returncode == 1
    assert "unsupported_media_type" in result.stdout


def test_without_model_weights_the_scan_fails_naming_the_setting(
    redis_url: str, tmp_path: Path
) -> None:
    for env in start_standalone(tmp_path, redis_url, BUNRI_LOCAL_MODEL=str(tmp_path / "nothing")):
        picture = tmp_path / "bottle.jpg"
        picture.write_bytes(photo())
        result = bunri_scan(env, picture)
        assert result.returncode == 1, result.stdout
        assert "model_unavailable" in result.stdout
        assert "BUNRI_LOCAL_MODEL" in result.stdout
    # Stopped, the platform left no worker behind.
    assert processes_with_state_dir(tmp_path / "state") == []


def test_a_second_state_folder_on_the_same_database_still_gets_a_demo_login(
    redis_url: str, tmp_path: Path
) -> None:
    database = {"BUNRI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"}
    logins = []
    for folder in ("first", "second"):
        (tmp_path / folder).mkdir()
        for env in start_standalone(tmp_path / folder, redis_url, **database):
            logins.append(json.loads((Path(env["STATE"]) / "demo-login.json").read_text()))
    assert logins[0]["email"] == logins[1]["email"]
    assert logins[0]["password"] != logins[1]["password"]


def processes_with_state_dir(state: Path) -> list[int]:
    marker = f"BUNRI_STATE_DIR={state.resolve()}".encode()
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def test_without_its_extra_it_names_what_to_install(tmp_path: Path) -> None:
    """bunri-programs without [standalone] (the ops image has no service): a clear refusal that
    names the extra, before anything starts."""
    code = (
        "import importlib.abc, sys\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in {'chat_api', 'storage_worker'}:\n"
        "            raise ModuleNotFoundError(f'{name} is not installed here')\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from bunri_programs.cli import main\n"
        "sys.argv = ['bunri', 'standalone', '--state-dir', sys.argv[1]]\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "lacks chat_api, storage_worker: install bunri-programs[standalone]" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state").exists()


def bunri_my(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return bunri(env, "my", *arguments)


def test_bunri_my_changes_the_profile_and_exports_everything(
    standalone: dict[str, str], tmp_path: Path
) -> None:
    """The demo account's own page through the CLI, on the embedded SQLite: a change, a read,
    and the export of the scan the first test made."""
    changed = bunri_my(standalone, "profile", "--nickname", "분리왕", "--region", "11/11680")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    profile = json.loads(changed.stdout)
    assert profile["nickname"] == "분리왕"
    assert profile["region"]["district"]["name"] == "강남구"
    read = bunri_my(standalone, "profile")
    assert json.loads(read.stdout)["version"] == profile["version"]
    refused = bunri_my(standalone, "profile", "--region", "11/26440")
    assert refused.returncode == 1
    assert "unknown_region" in refused.stderr
    into = tmp_path / "me.json"
    exported = bunri_my(standalone, "export", "-o", str(into))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    document = json.loads(into.read_bytes())
    assert document["account"]["nickname"] == "분리왕"
    assert document["profile"]["district_code"] == "11680"
