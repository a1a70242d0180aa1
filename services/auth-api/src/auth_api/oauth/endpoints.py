"""Social login: /api/v1/auth/oauth/*.

A browser opens `authorize`, the provider sends it back to `callback`, which answers with the
token pair (the browser must be the one that opened `authorize`). An app passes its registered
`redirect_uri` and a PKCE `code_challenge` instead: the callback redirects there with a one-time
`code`, which only that app (holding the verifier) can trade for tokens at `/oauth/token`.
Linking a provider to a signed-in user is always an app flow, completed at that trade.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from auth_api import repository
from auth_api.deps import AuthServiceDep, AuthSettingsDep, OAuthFlowDep
from auth_api.errors import LoginCodeInvalid, OAuthStateInvalid
from auth_api.oauth.accounts import link_identity, sign_in_user
from auth_api.oauth.flow import (
    PendingSignIn,
    browser_cookie,
    check_browser,
    provider_error_to_denied,
)
from auth_api.schemas import AuthorizationUrl, LoginCodeExchange, TokenPair
from bunri.errors import BunriError
from bunri.web.auth import CurrentUser
from bunri.web.deps import SessionDep
from bunri.web.errors import documented_errors
from bunri.web.text import PlainText

ROUTE_PREFIX = "/api/v1/auth/oauth"
router = APIRouter(prefix=ROUTE_PREFIX, tags=["social login"])

Challenge = Annotated[str | None, Query(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
ShortParam = Annotated[PlainText | None, Query(max_length=2048)]


@router.get(
    "/{provider}/authorize",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses=documented_errors(400, 404),
)
async def authorize(
    provider: str,
    flow: OAuthFlowDep,
    settings: AuthSettingsDep,
    redirect_uri: ShortParam = None,
    code_challenge: Challenge = None,
) -> RedirectResponse:
    """Send the browser to the provider's consent page."""
    url = await flow.authorization_url(
        provider, app_redirect_uri=redirect_uri, app_code_challenge=code_challenge
    )
    response = RedirectResponse(url, status_code=status.HTTP_302_FOUND)
    if redirect_uri is None:
        name, value = browser_cookie(query_value(url, "state"))
        response.set_cookie(
            name,
            value,
            max_age=settings.oauth_state_ttl_seconds,
            path=ROUTE_PREFIX,
            httponly=True,
            secure=settings.public_base_url.startswith("https://"),
            samesite="lax",  # sent on the provider's top-level redirect back to us
        )
    return response


@router.post("/{provider}/link", responses=documented_errors(400, 401, 404))
async def start_link(
    provider: str,
    user: CurrentUser,
    flow: OAuthFlowDep,
    redirect_uri: Annotated[PlainText, Query(max_length=2048)],
    code_challenge: Annotated[
        str, Query(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    ],
) -> AuthorizationUrl:
    """For a signed-in user in the app: the provider URL to open. The provider account is linked
    when the app trades the returned code (with its verifier) at /oauth/token."""
    url = await flow.authorization_url(
        provider,
        app_redirect_uri=redirect_uri,
        app_code_challenge=code_challenge,
        link_user_id=user.user_id,
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
    request: Request,
    response: Response,
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
    if pending.app_redirect_uri is None:
        check_browser(request.cookies, state)
        response.delete_cookie(browser_cookie(state)[0], path=ROUTE_PREFIX)
    try:
        if error is not None or not code:
            raise provider_error_to_denied(error or "no_code", error_description)
        identity = await flow.identify(pending, code, state)
        if pending.link_user_id is not None:
            link_code = await flow.issue_login_code(
                UUID(pending.link_user_id), pending, link=identity
            )
            return _back_to_app(pending, code=link_code)
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
    """Trade the one-time code from the app redirect (and the verifier of the app's
    code_challenge) for a token pair; for a link, link the provider account first."""
    grant = await flow.redeem_login_code(body.code, body.code_verifier)
    if grant.link is not None:
        provider, identity = grant.link
        await link_identity(session, grant.user_id, provider, identity)
    elif await repository.get_user(session, grant.user_id) is None:
        raise LoginCodeInvalid("The account this code was issued for no longer exists.")
    return await auth.start_session(session, grant.user_id)


def _back_to_app(pending: PendingSignIn, **params: str) -> RedirectResponse:
    assert pending.app_redirect_uri is not None
    separator = "&" if "?" in pending.app_redirect_uri else "?"
    return RedirectResponse(
        f"{pending.app_redirect_uri}{separator}{urlencode(params)}",
        status_code=status.HTTP_302_FOUND,
    )


def query_value(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]
