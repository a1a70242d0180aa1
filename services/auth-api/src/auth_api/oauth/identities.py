"""Each provider's user-info answer, read into one shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auth_api.errors import OAuthProviderError


@dataclass(frozen=True, slots=True)
class ProviderIdentity:
    provider_user_id: str
    email: str | None
    email_verified: bool
    nickname: str | None


def _google(data: dict[str, Any]) -> ProviderIdentity:
    # OpenID Connect userinfo.
    return ProviderIdentity(
        provider_user_id=str(data["sub"]),
        email=data.get("email"),
        email_verified=bool(data.get("email_verified")),
        nickname=data.get("name") or data.get("given_name"),
    )


def _kakao(data: dict[str, Any]) -> ProviderIdentity:
    # GET /v2/user/me: {"id": 123, "kakao_account": {"email", "is_email_verified", "profile"}}
    account = data.get("kakao_account") or {}
    profile = account.get("profile") or {}
    return ProviderIdentity(
        provider_user_id=str(data["id"]),
        email=account.get("email"),
        email_verified=bool(account.get("is_email_verified")),
        nickname=profile.get("nickname") or (data.get("properties") or {}).get("nickname"),
    )


def _naver(data: dict[str, Any]) -> ProviderIdentity:
    # GET /v1/nid/me: {"resultcode": "00", "message": "success", "response": {"id", ...}}
    if data.get("resultcode") != "00":
        raise OAuthProviderError(f"Naver refused the profile request: {data.get('message')}")
    response = data["response"]
    return ProviderIdentity(
        provider_user_id=str(response["id"]),
        email=response.get("email"),
        email_verified=False,  # Naver does not say
        nickname=response.get("nickname") or response.get("name"),
    )


_PARSERS: dict[str, Callable[[dict[str, Any]], ProviderIdentity]] = {
    "google": _google,
    "kakao": _kakao,
    "naver": _naver,
}

SUPPORTED_PROVIDERS = frozenset(_PARSERS)


def parse_identity(provider: str, data: Any) -> ProviderIdentity:
    try:
        identity = _PARSERS[provider](data)
    except (KeyError, TypeError, AttributeError) as exc:
        raise OAuthProviderError("The provider's profile answer is not what it should be.") from exc
    if not identity.provider_user_id:
        raise OAuthProviderError("The provider did not say who the user is.")
    return identity
