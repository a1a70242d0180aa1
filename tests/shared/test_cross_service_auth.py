"""The real auth-api process issues and revokes tokens; another service verifies them locally
(keys cached from the JWKS, revocations read from Redis), never calling auth-api per request."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from bunri.settings import BunriSettings, Environment
from tests.auth.test_token_attacks import Minter
from tests.support.keys import ed25519_pem
from tests.support.resource_server import resource_server
from tests.support.servers import free_port, run_process

PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="module")
def auth_api(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """`bunri-auth-api`, the real entry point, on a free port; yields its URL and its log."""
    port = free_port()
    log = tmp_path_factory.mktemp("auth-api") / "auth-api.log"
    env = {
        "BUNRI_ENVIRONMENT": "test",
        "BUNRI_DATABASE_URL": database_url,
        "BUNRI_REDIS_URL": redis_url,
        "BUNRI_SIGNING_KEY": ed25519_pem(),
        "BUNRI_AUTH_API_PORT": str(port),
        "BUNRI_ARGON2_TIME_COST": "1",
        "BUNRI_ARGON2_MEMORY_COST_KIB": "256",
        "BUNRI_ARGON2_PARALLELISM": "1",
    }
    command = [str(Path(sys.executable).parent / "bunri-auth-api")]
    url = f"http://127.0.0.1:{port}"
    with run_process(command, env=env, ready_url=f"{url}/healthz", log_path=log):
        yield url, log


def requests_to(log: Path, path: str) -> int:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return sum(1 for line in lines if line.get("event") == "request" and line["path"] == path)


@pytest.fixture
async def service(
    auth_api: tuple[str, Path], database_url: str, redis_url: str, clean_database, redis
) -> AsyncIterator[httpx.AsyncClient]:
    url, _ = auth_api
    settings = BunriSettings(
        environment=Environment.TEST,
        database_url=database_url,
        redis_url=redis_url,
        auth_jwks_url=f"{url}/.well-known/jwks.json",
    )
    app: FastAPI = resource_server(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def signed_in(auth_url: str, email: str) -> dict[str, str]:
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        signup = await auth.post(
            "/api/v1/auth/signup", json={"email": email, "password": PASSWORD, "nickname": "n"}
        )
        assert signup.status_code == 201, signup.text
        login = await auth.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        tokens: dict[str, str] = login.json() | {"user_id": signup.json()["id"]}
        return tokens


async def test_tokens_verify_locally_and_logout_is_seen_at_once(
    auth_api: tuple[str, Path], service: httpx.AsyncClient
) -> None:
    auth_url, log = auth_api
    tokens = await signed_in(auth_url, "cross@example.com")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    jwks_before = requests_to(log, "/.well-known/jwks.json")

    for _ in range(25):
        response = await service.get("/api/v1/whoami", headers=headers)
        assert response.status_code == 200
        assert response.json()["user_id"] == tokens["user_id"]
    # The keys were fetched once, then every verification was local.
    assert requests_to(log, "/.well-known/jwks.json") - jwks_before == 1

    async with httpx.AsyncClient(base_url=auth_url) as auth:
        assert (await auth.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    refused = await service.get("/api/v1/whoami", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "token_revoked"


async def test_refresh_token_reuse_is_seen_at_once(
    auth_api: tuple[str, Path], service: httpx.AsyncClient
) -> None:
    auth_url, _ = auth_api
    stolen = await signed_in(auth_url, "reuse@example.com")
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        rotated = (
            await auth.post("/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]})
        ).json()
        headers = {"Authorization": f"Bearer {rotated['access_token']}"}
        assert (await service.get("/api/v1/whoami", headers=headers)).status_code == 200
        replay = await auth.post(
            "/api/v1/auth/refresh", json={"refresh_token": stolen["refresh_token"]}
        )
        assert replay.json()["error"]["code"] == "refresh_token_reused"
    refused = await service.get("/api/v1/whoami", headers=headers)
    assert refused.json()["error"]["code"] == "token_revoked"


async def test_tokens_of_another_issuer_setup_are_refused(service: httpx.AsyncClient) -> None:
    """A token signed by a key the JWKS does not publish (say, a staging auth-api's)."""

    token = Minter(ed25519_pem(), str(uuid.uuid4())).valid()
    response = await service.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"
