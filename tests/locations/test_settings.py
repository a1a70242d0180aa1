"""location-api's settings as the deployments pass them."""

from __future__ import annotations

import pytest

from location_api.settings import LocationApiSettings


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_kakao_key_means_no_key(empty: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """docker-compose passes BUNRI_KAKAO_REST_API_KEY through as an empty string when .env
    leaves it out: that is no key, so searches answer our own points without asking Kakao."""
    assert LocationApiSettings(kakao_rest_api_key=empty).kakao_rest_api_key is None
    monkeypatch.setenv("BUNRI_KAKAO_REST_API_KEY", empty)
    assert LocationApiSettings().kakao_rest_api_key is None


def test_a_kakao_key_is_kept_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUNRI_KAKAO_REST_API_KEY", "rest-key")
    key = LocationApiSettings().kakao_rest_api_key
    assert key is not None
    assert key.get_secret_value() == "rest-key"
    assert "rest-key" not in repr(key)
