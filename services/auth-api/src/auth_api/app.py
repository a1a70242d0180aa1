"""auth-api's application: its routes, and what its lifespan opens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from auth_api import endpoints
from auth_api.keys import load_key_ring
from auth_api.oauth import endpoints as oauth_endpoints
from auth_api.oauth.flow import OAuthFlow
from auth_api.passwords import PasswordHasher
from auth_api.service import AuthService, LoginLimiters
from auth_api.settings import AuthApiSettings
from auth_api.tokens import AccessTokenIssuer
from bunri.auth import KeySource, RevocationStore, StaticKeySource
from bunri.logging import configure_logging
from bunri.settings import BunriSettings
from bunri.web.app import attach_resources, create_service_app
from bunri.web.resources import open_resources


def create_app(settings: AuthApiSettings | None = None) -> FastAPI:
    settings = settings or AuthApiSettings()
    configure_logging(
        service=settings.service_name, level=settings.log_level, json=settings.log_json
    )
    key_ring = load_key_ring(settings)

    def own_keys(_: BunriSettings, __: httpx.AsyncClient) -> KeySource:
        # auth-api verifies with the keys it publishes: no HTTP round trip to itself.
        return StaticKeySource(key_ring.published)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_resources(settings, key_source=own_keys) as resources:
            attach_resources(app, resources)
            app.state.key_ring = key_ring
            app.state.auth_service = AuthService(
                settings,
                AccessTokenIssuer(
                    key_ring.signing,
                    issuer=settings.auth_issuer,
                    audience=settings.auth_audience,
                    ttl_seconds=settings.access_token_ttl_seconds,
                ),
                PasswordHasher(settings),
                RevocationStore(resources.redis),
                LoginLimiters(settings, resources.redis),
            )
            app.state.oauth_flow = OAuthFlow(settings, resources.redis, resources.http)
            yield

    return create_service_app(
        settings=settings,
        title="Bunri auth-api",
        description="Accounts, sign-in (password and Kakao/Google/Naver), token rotation and "
        "revocation, and the public keys other services verify tokens with.",
        docs_prefix="/api/v1/auth",
        routers=[endpoints.router, endpoints.jwks_router, oauth_endpoints.router],
        lifespan=lifespan,
    )
