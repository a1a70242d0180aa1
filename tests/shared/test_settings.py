"""Settings come from BUNRI_* variables and refuse development defaults elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from auth_api.keys import load_key_ring
from auth_api.settings import AuthApiSettings
from bunri.settings import BunriSettings, Environment
from tests.support.keys import ed25519_pem, public_pem, rsa_pem


def test_reads_the_bunri_prefix_and_nested_provider_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BUNRI_DATABASE_URL", "postgresql+asyncpg://db.internal/bunri")
    monkeypatch.setenv("BUNRI_OAUTH_KAKAO__CLIENT_ID", "kakao-app")
    monkeypatch.setenv("BUNRI_ACCESS_TOKEN_TTL_SECONDS", "600")
    settings = AuthApiSettings()
    assert settings.database_url == "postgresql+asyncpg://db.internal/bunri"
    assert settings.oauth_kakao.client_id == "kakao-app"
    assert settings.oauth_kakao.authorize_url == "https://kauth.kakao.com/oauth/authorize"
    assert settings.access_token_ttl_seconds == 600


@pytest.mark.parametrize("environment", ["production", "test"])
def test_outside_development_a_signing_key_is_required(environment: str) -> None:
    with pytest.raises(ValidationError, match="BUNRI_SIGNING_KEY"):
        AuthApiSettings(environment=environment)


def test_development_generates_and_keeps_a_signing_key(tmp_path: Path) -> None:
    settings = AuthApiSettings(environment="development", state_dir=tmp_path)
    first = load_key_ring(settings)
    assert settings.dev_signing_key_path.stat().st_mode & 0o777 == 0o600
    again = load_key_ring(settings)
    assert first.signing.public.kid == again.signing.public.kid


def test_a_development_only_default_is_refused_outside_development() -> None:
    class WithSecret(BunriSettings):
        development_only_defaults = ("broker_url",)
        broker_url: str = "amqp://guest:guest@127.0.0.1:5672//"

    assert WithSecret().broker_url.startswith("amqp://guest")
    with pytest.raises(ValidationError, match="BUNRI_BROKER_URL"):
        WithSecret(environment=Environment.PRODUCTION)
    assert WithSecret(environment="production", broker_url="amqp://bunri:s3cret@mq//")


def test_enabled_google_and_naver_need_a_client_secret() -> None:
    with pytest.raises(ValidationError, match="CLIENT_SECRET"):
        AuthApiSettings(oauth_google={"client_id": "x"})


def test_rsa_keys_work_and_retired_keys_stay_published(tmp_path: Path) -> None:
    old = ed25519_pem()
    settings = AuthApiSettings(
        environment="production", signing_key=rsa_pem(), retired_public_keys=[public_pem(old)]
    )
    ring = load_key_ring(settings)
    assert ring.signing.public.algorithm == "RS256"
    assert [key.algorithm for key in ring.published] == ["RS256", "EdDSA"]


def test_short_rsa_keys_are_refused() -> None:
    settings = AuthApiSettings(environment="production", signing_key=rsa_pem(1024))
    with pytest.raises(ValueError, match="2048"):
        load_key_ring(settings)
