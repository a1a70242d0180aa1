"""auth-api as a service: health, readiness, docs, and its OpenAPI contract."""

from __future__ import annotations

import httpx


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


async def test_openapi_docs_describe_every_endpoint_and_error_shape(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/v1/auth/docs")).status_code == 200
    spec = (await client.get("/api/v1/auth/openapi.json")).json()
    assert {
        "/api/v1/auth/signup",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/.well-known/jwks.json",
        "/api/v1/auth/oauth/{provider}/authorize",
        "/api/v1/auth/oauth/{provider}/callback",
        "/api/v1/auth/oauth/{provider}/link",
        "/api/v1/auth/oauth/token",
        "/healthz",
        "/readyz",
    } <= spec["paths"].keys()
    signup = spec["paths"]["/api/v1/auth/signup"]["post"]["responses"]
    assert signup["409"]["content"]["application/json"]["schema"]["$ref"].endswith("ErrorBody")
    assert "HTTPBearer" in spec["components"]["securitySchemes"]


async def test_responses_carry_a_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": "app-1234"})
    assert response.headers["x-request-id"] == "app-1234"
