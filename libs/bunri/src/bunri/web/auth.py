"""The caller of a route, as FastAPI dependencies: `CurrentUser` in a route's signature makes the
route need a valid token, checked by the app's `bunri.auth` verifier (on `app.state`); `AdminDep`
(or `require_role(...)`) needs a token that also carries the role, else 403 `forbidden`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from bunri.auth.claims import ADMIN_ROLE, AccessClaims
from bunri.auth.errors import RoleRequired, TokenInvalid, TokenMissing
from bunri.auth.verifier import TokenVerifier
from bunri.web.state import app_state

T = TypeVar("T")

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


def require_role(role: str) -> Callable[[AccessClaims], Awaitable[AccessClaims]]:
    """A dependency giving the caller's claims if their token carries `role`: a missing or bad
    token is the usual 401, a good one without the role a 403 `forbidden`. The role is read from
    the token, so a role given or taken away reaches the caller's next token (the next refresh)."""

    async def caller_with_role(claims: CurrentUser) -> AccessClaims:
        if role not in claims.roles:
            raise RoleRequired(role)
        return claims

    caller_with_role.__name__ = f"caller_with_{role}_role"
    return caller_with_role


# `admin: AdminDep` in a route's signature: only people given the admin role (`bunri users
# grant-role EMAIL --role admin`) get through.
AdminDep = Annotated[AccessClaims, Depends(require_role(ADMIN_ROLE))]


@dataclass(frozen=True, slots=True)
class SignedCaller:
    """A caller whose token's signature and claims hold, not yet checked against revocations:
    for a route that has local work to do (reading an upload) while that round trip is out."""

    claims: AccessClaims
    verifier: TokenVerifier

    async def unless_revoked(self, work: Awaitable[T]) -> tuple[AccessClaims, T]:
        """The claims and `work`'s result, with the revocation check running beside `work`.
        `work` must change nothing outside the request: it runs even for a revoked token, whose
        error then wins over any of `work`'s."""
        check = asyncio.ensure_future(self.verifier.ensure_not_revoked(self.claims))
        try:
            result = await work
        except Exception:
            await check
            raise
        except BaseException:
            check.cancel()
            raise
        await check
        return self.claims, result


async def signed_caller(
    request: Request,
    verifier: Annotated[TokenVerifier, Depends(app_state("token_verifier"))],
    _: Annotated[object, Depends(bearer_scheme)] = None,
) -> SignedCaller:
    return SignedCaller(await verifier.verify_signature_and_claims(bearer_token(request)), verifier)


SignedCallerDep = Annotated[SignedCaller, Depends(signed_caller)]


__all__ = [
    "ADMIN_ROLE",
    "AdminDep",
    "CurrentUser",
    "SignedCaller",
    "SignedCallerDep",
    "bearer_token",
    "current_user",
    "require_role",
    "signed_caller",
]
