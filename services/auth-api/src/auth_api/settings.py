from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from bunri.settings import BunriSettings, InsecureSettingsError


class OAuthProvider(BaseModel):
    """One social-login provider. It is offered only once `client_id` is set; the endpoints are
    settable so that tests (and a provider's sandbox) can stand in for the real one."""

    client_id: str | None = None
    client_secret: SecretStr | None = None
    authorize_url: str
    token_url: str
    userinfo_url: str
    scopes: list[str] = Field(default_factory=list)
    use_pkce: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.client_id)


# Each provider's real endpoints are the defaults, so BUNRI_OAUTH_KAKAO__CLIENT_ID alone enables it.
class KakaoOAuth(OAuthProvider):
    authorize_url: str = "https://kauth.kakao.com/oauth/authorize"
    token_url: str = "https://kauth.kakao.com/oauth/token"
    userinfo_url: str = "https://kapi.kakao.com/v2/user/me"
    scopes: list[str] = Field(default_factory=lambda: ["profile_nickname", "account_email"])


class GoogleOAuth(OAuthProvider):
    authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    token_url: str = "https://oauth2.googleapis.com/token"
    userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])


class NaverOAuth(OAuthProvider):
    authorize_url: str = "https://nid.naver.com/oauth2.0/authorize"
    token_url: str = "https://nid.naver.com/oauth2.0/token"
    userinfo_url: str = "https://openapi.naver.com/v1/nid/me"
    use_pkce: bool = False  # Naver's authorization-code flow has no PKCE


class AuthApiSettings(BunriSettings):
    service_name: str = "auth-api"

    auth_api_host: str = "127.0.0.1"
    auth_api_port: int = 8001
    auth_api_workers: int = Field(default=1, ge=1)

    signing_key: SecretStr | None = Field(
        default=None, description="PEM private key (Ed25519, or RSA >= 2048 bits) for tokens."
    )
    signing_key_file: Path | None = None
    retired_public_keys: list[str] = Field(
        default_factory=list,
        description="PEM public keys of rotated-out signing keys, still published in the JWKS "
        "until the tokens they signed have expired.",
    )

    access_token_ttl_seconds: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)

    # argon2id with OWASP's recommended parameters (19 MiB, t=2, p=1): about 40 ms a hash on a
    # t3.small core. RFC 9106's second option (64 MiB, t=3, p=4) costs about 230 ms there.
    argon2_time_cost: int = Field(default=2, ge=1)
    argon2_memory_cost_kib: int = Field(default=19 * 1024, ge=8)
    argon2_parallelism: int = Field(default=1, ge=1)
    # Each hash holds argon2_memory_cost of RAM: bound how many run at once.
    password_hash_concurrency: int = Field(default_factory=lambda: max(2, os.cpu_count() or 2))

    # auth_api.login_guard: what each limit protects.
    login_attempts_per_ip: int = Field(default=30, ge=1)
    login_failures_per_account_address: int = Field(default=5, ge=1)
    login_failures_per_account: int = Field(
        default=20,
        ge=1,
        description="Failures on one account, from any address, in the window before an "
        "address it has not signed in from lately waits (2, 4, 8 ... s).",
    )
    login_delay_max_seconds: int = Field(default=15 * 60, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    signups_per_ip: int = Field(default=20, ge=1)
    signup_window_seconds: int = Field(default=3600, ge=1)

    public_base_url: str = Field(
        default="http://127.0.0.1:8080",
        description="The base URL clients use; OAuth callbacks are registered under it.",
    )
    oauth_app_redirect_uris: list[str] = Field(
        default_factory=lambda: ["bunri://oauth/callback"],
        description="Where a finished social login may send the app (exact match).",
    )
    oauth_state_ttl_seconds: int = Field(default=600, ge=30)
    oauth_login_code_ttl_seconds: int = Field(default=60, ge=5)
    oauth_kakao: KakaoOAuth = KakaoOAuth()
    oauth_google: GoogleOAuth = GoogleOAuth()
    oauth_naver: NaverOAuth = NaverOAuth()

    @field_validator("oauth_kakao", "oauth_google", "oauth_naver", mode="before")
    @classmethod
    def accept_any_provider_model(cls, value: object) -> object:
        # A plain OAuthProvider (built in code) stands in for the provider's own class.
        return value.model_dump() if isinstance(value, OAuthProvider) else value

    @property
    def oauth_providers(self) -> dict[str, OAuthProvider]:
        return {"kakao": self.oauth_kakao, "google": self.oauth_google, "naver": self.oauth_naver}

    @property
    def dev_signing_key_path(self) -> Path:
        return self.state_dir / "auth-signing-key.pem"

    @model_validator(mode="after")
    def require_signing_key_outside_development(self) -> AuthApiSettings:
        if not self.is_development and self.signing_key is None and self.signing_key_file is None:
            raise InsecureSettingsError(
                "BUNRI_SIGNING_KEY or BUNRI_SIGNING_KEY_FILE must be set when "
                f"BUNRI_ENVIRONMENT={self.environment.value}; a generated key is for development"
            )
        for name, provider in self.oauth_providers.items():
            if provider.enabled and provider.client_secret is None and name != "kakao":
                raise ValueError(f"BUNRI_OAUTH_{name.upper()}__CLIENT_SECRET is required")
        return self
