"""Social login: /api/v1/auth/oauth/*.

A browser (or the app's in-app browser tab) opens `authorize`, the provider sends it back to
`callback`. Without `redirect_uri` the callback answers with the token pair; with one (an app's
registered URI) it redirects there with a one-time `code` that the app trades for tokens at
`/oauth/token`, optionally proving with PKCE that it is the app that started the sign-in.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Query, status
from fastapi.responses import RedirectResponse

from auth_api import repository
from auth_api.deps import AuthServiceDep, OAuthFlowDep
from auth_api.errors import LoginCodeInvalid, OAuthStateInvalid
from auth_api.oauth.accounts import link_identity, sign_in_user
from auth_api.oauth.flow import PendingSignIn, provider_error_to_denied
from auth_api.schemas import AuthorizationUrl, LoginCodeExchange, TokenPair
from bunri.auth import CurrentUser
from bunri.errors import BunriError
from bunri.web.deps import SessionDep
from bunri.web.errors import documented_errors

router = APIRouter(prefix="/api/v1/auth/oauth", tags=["social login"])

Challenge = Annotated[str | None, Query(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
ShortParam = Annotated[str | None, Query(max_length=2048)]


@router.get(
    "/{provider}/authorize",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=documented_errors(400, 404),
)
async def authorize(
    provider: str,
    flow: OAuthFlowDep,
    redirect_uri: ShortParam = None,
    code_challenge: Challenge = None,
) -> RedirectResponse:
    """Send the browser to the provider's consent page."""
    url = await flow.authorization_url(
        provider, app_redirect_uri=redirect_uri, app_code_challenge=code_challenge
    )
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.post("/{provider}/link", responses=documented_errors(400, 401, 404))
async def start_link(
    provider: str,
    user: CurrentUser,
    flow: OAuthFlowDep,
    redirect_uri: ShortParam = None,
) -> AuthorizationUrl:
    """For a signed-in user: the provider URL whose completion links that provider account."""
    url = await flow.authorization_url(
        provider, app_redirect_uri=redirect_uri, link_user_id=user.user_id
    )
    return AuthorizationUrl(authorization_url=url)


@router.get(
    "/{provider}/callback",
    response_model=TokenPair,
    responses={
        302: {"description": "Back to the app with a one-time code"},
        **documented_errors(400, 404, 409, 502),
    },
)
async def callback(
    provider: str,
    session: SessionDep,
    flow: OAuthFlowDep,
    auth: AuthServiceDep,
    state: ShortParam = None,
    code: ShortParam = None,
    error: ShortParam = None,
    error_description: ShortParam = None,
) -> TokenPair | RedirectResponse:
    flow.provider(provider)
    if not state:
        raise OAuthStateInvalid("The provider's answer carries no state.")
    pending = await flow.take_pending(provider, state)
    try:
        if error is not None or not code:
            raise provider_error_to_denied(error or "no_code", error_description)
        identity = await flow.identify(pending, code, state)
        if pending.link_user_id is not None:
            user = await link_identity(session, UUID(pending.link_user_id), provider, identity)
        else:
            user = await sign_in_user(session, provider, identity)
    except BunriError as failure:
        if pending.app_redirect_uri is None:
            raise
        await session.rollback()
        return _back_to_app(pending, error=failure.code)
    if pending.app_redirect_uri is not None:
        return _back_to_app(pending, code=await flow.issue_login_code(user.id, pending))
    return await auth.start_session(session, user.id)


@router.post("/token", responses=documented_errors(400, 422))
async def exchange_login_code(
    body: LoginCodeExchange, session: SessionDep, flow: OAuthFlowDep, auth: AuthServiceDep
) -> TokenPair:
    """Trade the one-time code from the app redirect for a token pair."""
    user_id = await flow.redeem_login_code(body.code, body.code_verifier)
    if await repository.get_user(session, user_id) is None:
        raise LoginCodeInvalid("The account this code was issued for no longer exists.")
    return await auth.start_session(session, user_id)


def _back_to_app(pending: PendingSignIn, **params: str) -> RedirectResponse:
    assert pending.app_redirect_uri is not None
    separator = "&" if "?" in pending.app_redirect_uri else "?"
    return RedirectResponse(
        f"{pending.app_redirect_uri}{separator}{urlencode(params)}",
        status_code=status.HTTP_302_FOUND,
    )
