"""What auth-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth_api.keys import KeyRing
from auth_api.oauth.flow import OAuthFlow
from auth_api.service import AuthService
from auth_api.settings import AuthApiSettings
from bunri.web.state import app_state


async def client_ip(request: Request) -> str:
    # uvicorn has already replaced this with X-Forwarded-For when the peer is a trusted proxy.
    return request.client.host if request.client else "unknown"


AuthServiceDep = Annotated[AuthService, Depends(app_state("auth_service"))]
OAuthFlowDep = Annotated[OAuthFlow, Depends(app_state("oauth_flow"))]
KeyRingDep = Annotated[KeyRing, Depends(app_state("key_ring"))]
ClientIp = Annotated[str, Depends(client_ip)]
AuthSettingsDep = Annotated[AuthApiSettings, Depends(app_state("settings"))]
