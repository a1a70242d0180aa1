"""What auth-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth_api.keys import KeyRing
from auth_api.oauth.flow import OAuthFlow
from auth_api.service import AuthService
from auth_api.settings import AuthApiSettings


async def auth_service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


async def oauth_flow(request: Request) -> OAuthFlow:
    flow: OAuthFlow = request.app.state.oauth_flow
    return flow


async def key_ring(request: Request) -> KeyRing:
    ring: KeyRing = request.app.state.key_ring
    return ring


async def auth_settings(request: Request) -> AuthApiSettings:
    settings: AuthApiSettings = request.app.state.settings
    return settings


async def client_ip(request: Request) -> str:
    # uvicorn has already replaced this with X-Forwarded-For when the peer is a trusted proxy.
    return request.client.host if request.client else "unknown"


AuthServiceDep = Annotated[AuthService, Depends(auth_service)]
OAuthFlowDep = Annotated[OAuthFlow, Depends(oauth_flow)]
KeyRingDep = Annotated[KeyRing, Depends(key_ring)]
ClientIp = Annotated[str, Depends(client_ip)]
AuthSettingsDep = Annotated[AuthApiSettings, Depends(auth_settings)]
