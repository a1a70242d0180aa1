"""FastAPI dependencies: `CurrentUser` in a route's signature makes the route need a valid token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from bunri.auth.claims import AccessClaims
from bunri.auth.errors import TokenInvalid, TokenMissing
from bunri.auth.verifier import TokenVerifier
from bunri.web.state import app_state

# Declares the scheme in OpenAPI (the docs' "Authorize" button); the header is parsed below so that
# a missing token and a malformed one get different codes.
bearer_scheme = HTTPBearer(auto_error=False, description="An access token from auth-api")


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise TokenMissing()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenInvalid("The Authorization header must read 'Bearer <token>'.")
    return token.strip()


async def current_user(
    request: Request,
    verifier: Annotated[TokenVerifier, Depends(app_state("token_verifier"))],
    _: Annotated[object, Depends(bearer_scheme)] = None,
) -> AccessClaims:
    return await verifier.verify(bearer_token(request))


CurrentUser = Annotated[AccessClaims, Depends(current_user)]
