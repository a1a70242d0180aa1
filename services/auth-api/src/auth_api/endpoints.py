"""Accounts and tokens: /api/v1/auth/* and the JWKS."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from auth_api import repository
from auth_api.deps import AuthServiceDep, ClientIp, KeyRingDep
from auth_api.errors import RefreshTokenReused
from auth_api.schemas import (
    JsonWebKeySet,
    LinkedProvider,
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    SignupRequest,
    TokenPair,
    UserOut,
)
from bunri.auth import TokenInvalid
from bunri.db.models import User
from bunri.web.auth import CurrentUser
from bunri.web.deps import SessionDep
from bunri.web.errors import documented_errors

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        nickname=user.nickname,
        has_password=user.password_hash is not None,
        linked_providers=[
            LinkedProvider(provider=link.provider, email=link.email, linked_at=link.created_at)
            for link in user.social_accounts
        ],
        created_at=user.created_at,
    )


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    responses=documented_errors(400, 409, 413, 422, 429),
)
async def signup(
    body: SignupRequest, session: SessionDep, auth: AuthServiceDep, ip: ClientIp
) -> UserOut:
    user = await auth.signup(
        session, email=body.email, password=body.password, nickname=body.nickname, client_ip=ip
    )
    return user_out(user)


@router.post("/login", responses=documented_errors(400, 401, 413, 422, 429))
async def login(
    body: LoginRequest, session: SessionDep, auth: AuthServiceDep, ip: ClientIp
) -> TokenPair:
    return await auth.login(session, email=body.email, password=body.password, client_ip=ip)


@router.post("/refresh", responses=documented_errors(400, 401, 422))
async def refresh(body: RefreshRequest, session: SessionDep, auth: AuthServiceDep) -> TokenPair:
    try:
        return await auth.refresh(session, body.refresh_token)
    except RefreshTokenReused:
        await session.commit()  # keep the family's revocation although this request fails
        raise


@router.post(
    "/logout", status_code=status.HTTP_204_NO_CONTENT, responses=documented_errors(401, 422)
)
async def logout(
    user: CurrentUser,
    session: SessionDep,
    auth: AuthServiceDep,
    body: LogoutRequest | None = None,
) -> Response:
    await auth.logout(session, user, body.refresh_token if body else None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses=documented_errors(401))
async def me(user: CurrentUser, session: SessionDep) -> UserOut:
    found = await repository.get_user_with_social_accounts(session, user.user_id)
    if found is None:  # deleted after the token was issued
        raise TokenInvalid("The account this token belongs to no longer exists.")
    return user_out(found)


@jwks_router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(keys: KeyRingDep, response: Response) -> JsonWebKeySet:
    response.headers["Cache-Control"] = "public, max-age=300"
    return JsonWebKeySet(keys=[key.to_jwk() for key in keys.published])
