"""The authorization-code dance with a provider, and the one-time login codes handed to the app.

State lives in Redis for a few minutes and is consumed on first use (GETDEL), so a callback can be
completed once. With PKCE the provider's code is worthless without our verifier.

Whoever finishes a sign-in must be whoever started it, or an attacker could send a victim a link
that signs the victim into the attacker's account (or links the victim's provider account to the
attacker's): a browser flow is bound to the browser by a cookie set at `authorize`; an app flow is
bound to the app by the app's own PKCE challenge, checked when it trades the login code. Linking
happens only at that trade.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import httpx
from redis.asyncio import Redis

from auth_api.errors import (
    BrowserMismatch,
    CodeChallengeRequired,
    LoginCodeInvalid,
    OAuthDenied,
    OAuthProviderError,
    OAuthStateInvalid,
    ProviderDisabled,
    RedirectUriNotAllowed,
    UnknownProvider,
)
from auth_api.oauth.identities import SUPPORTED_PROVIDERS, ProviderIdentity, parse_identity
from auth_api.settings import AuthApiSettings, OAuthProvider
from bunri.logging import get_logger
from bunri.redis import KEY_PREFIX

log = get_logger(__name__)

_STATE = KEY_PREFIX + "oauth:state:"
_LOGIN_CODE = KEY_PREFIX + "oauth:login-code:"


BROWSER_COOKIE_PREFIX = "bunri_oauth_"


@dataclass(frozen=True, slots=True)
class Grant:
    """What a redeemed login code entitles to: a session for `user_id`, after linking `link`."""

    user_id: uuid.UUID
    link: tuple[str, ProviderIdentity] | None


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What we remember between sending the user to the provider and their return."""

    provider: str
    code_verifier: str | None
    app_redirect_uri: str | None
    app_code_challenge: str | None
    link_user_id: str | None


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthFlow:
    def __init__(self, settings: AuthApiSettings, redis: Redis, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._redis = redis
        self._http = http

    def provider(self, name: str) -> OAuthProvider:
        if name not in SUPPORTED_PROVIDERS:
            raise UnknownProvider(f"There is no sign-in provider named {name!r}.")
        provider = self._settings.oauth_providers[name]
        if not provider.enabled:
            raise ProviderDisabled(f"Sign-in with {name} is not enabled on this server.")
        return provider

    def callback_url(self, name: str) -> str:
        return f"{self._settings.public_base_url.rstrip('/')}/api/v1/auth/oauth/{name}/callback"

    async def authorization_url(
        self,
        name: str,
        *,
        app_redirect_uri: str | None = None,
        app_code_challenge: str | None = None,
        link_user_id: uuid.UUID | None = None,
    ) -> str:
        provider = self.provider(name)
        if app_redirect_uri is not None:
            if app_redirect_uri not in self._settings.oauth_app_redirect_uris:
                raise RedirectUriNotAllowed()
            if app_code_challenge is None:
                raise CodeChallengeRequired()
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64) if provider.use_pkce else None
        pending = PendingSignIn(
            provider=name,
            code_verifier=verifier,
            app_redirect_uri=app_redirect_uri,
            app_code_challenge=app_code_challenge,
            link_user_id=str(link_user_id) if link_user_id else None,
        )
        await self._redis.set(
            _STATE + state, json.dumps(asdict(pending)), ex=self._settings.oauth_state_ttl_seconds
        )
        params = {
            "response_type": "code",
            "client_id": provider.client_id,
            "redirect_uri": self.callback_url(name),
            "state": state,
        }
        if provider.scopes:
            params["scope"] = " ".join(provider.scopes)
        if verifier is not None:
            params |= {"code_challenge": pkce_challenge(verifier), "code_challenge_method": "S256"}
        return f"{provider.authorize_url}?{urlencode(params)}"

    async def take_pending(self, name: str, state: str) -> PendingSignIn:
        """The sign-in this callback belongs to, consumed so it completes at most once."""
        raw = await self._redis.getdel(_STATE + state)
        if raw is None:
            raise OAuthStateInvalid()
        pending = PendingSignIn(**json.loads(raw))
        if pending.provider != name:
            raise OAuthStateInvalid("This sign-in was started with another provider.")
        return pending

    async def identify(self, pending: PendingSignIn, code: str, state: str) -> ProviderIdentity:
        """Exchange the code for the provider's token, then ask who the user is."""
        provider = self.provider(pending.provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url(pending.provider),
            "client_id": provider.client_id or "",
            "state": state,  # Naver asks for it; the others ignore it
        }
        if provider.client_secret is not None:
            form["client_secret"] = provider.client_secret.get_secret_value()
        if pending.code_verifier is not None:
            form["code_verifier"] = pending.code_verifier
        token = await self._call(provider.token_url, "POST", data=form)
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise OAuthProviderError(
                f"The provider refused the sign-in code: {token.get('error', 'no access token')}."
            )
        profile = await self._call(
            provider.userinfo_url, "GET", headers={"Authorization": f"Bearer {access_token}"}
        )
        return parse_identity(pending.provider, profile)

    async def _call(self, url: str, method: str, **kwargs: object) -> dict[str, object]:
        try:
            response = await self._http.request(method, url, timeout=10.0, **kwargs)  # type: ignore[arg-type]
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("oauth provider call failed", url=url, error=repr(exc))
            raise OAuthProviderError() from exc
        if not isinstance(body, dict):
            raise OAuthProviderError("The provider answered with something other than an object.")
        if response.status_code >= 400 and "error" not in body:
            raise OAuthProviderError(f"The provider answered HTTP {response.status_code}.")
        return body

    async def issue_login_code(
        self,
        user_id: uuid.UUID,
        pending: PendingSignIn,
        link: ProviderIdentity | None = None,
    ) -> str:
        """A one-time code the app trades for tokens, so tokens never travel in a URL."""
        code = secrets.token_urlsafe(32)
        value = {
            "user_id": str(user_id),
            "code_challenge": pending.app_code_challenge,
            "link": {"provider": pending.provider, "identity": asdict(link)} if link else None,
        }
        await self._redis.set(
            _LOGIN_CODE + code, json.dumps(value), ex=self._settings.oauth_login_code_ttl_seconds
        )
        return code

    async def redeem_login_code(self, code: str, code_verifier: str | None) -> Grant:
        """Spend a login code; any attempt spends it, like a provider's authorization code."""
        raw = await self._redis.getdel(_LOGIN_CODE + code)
        if raw is None:
            raise LoginCodeInvalid()
        value = json.loads(raw)
        challenge = value.get("code_challenge")
        if (
            challenge is None
            or code_verifier is None
            or not secrets.compare_digest(pkce_challenge(code_verifier), challenge)
        ):
            raise LoginCodeInvalid("The code_verifier does not match the code_challenge.")
        link = value.get("link")
        return Grant(
            user_id=uuid.UUID(value["user_id"]),
            link=(link["provider"], ProviderIdentity(**link["identity"])) if link else None,
        )


def browser_cookie(state: str) -> tuple[str, str]:
    """The name and value of the cookie that ties a browser flow's state to its browser (one
    cookie per flow, so a browser can have several sign-ins under way)."""
    digest = hashlib.sha256(state.encode()).hexdigest()
    return BROWSER_COOKIE_PREFIX + digest[:16], digest


def check_browser(cookies: Mapping[str, str], state: str) -> None:
    name, value = browser_cookie(state)
    # Compared as bytes: compare_digest refuses non-ASCII strings, and a cookie can hold any.
    if not secrets.compare_digest(cookies.get(name, "").encode(), value.encode()):
        raise BrowserMismatch()


def provider_error_to_denied(error: str, description: str | None) -> OAuthDenied:
    detail = f" ({description})" if description else ""
    return OAuthDenied(f"The provider did not grant access: {error}{detail}.")
