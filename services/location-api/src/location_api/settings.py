from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from bunri.settings import BunriSettings


class LocationApiSettings(BunriSettings):
    service_name: str = "location-api"

    location_api_host: str = "127.0.0.1"
    location_api_port: int = 8006
    location_api_workers: int = Field(default=1, ge=1)

    kakao_rest_api_key: SecretStr | None = Field(
        default=None,
        description="Kakao Local's REST API key: where our own points are few, nearby searches "
        "ask Kakao too. Unset, only our own points are answered.",
    )
    kakao_base_url: str = "https://dapi.kakao.com"
    kakao_timeout_seconds: float = Field(default=1.5, gt=0, le=10)

    @field_validator("kakao_rest_api_key", mode="before")
    @classmethod
    def empty_key_is_unset(cls, value: object) -> object:
        # docker-compose passes ${BUNRI_KAKAO_REST_API_KEY:-}: an operator who left it out must
        # get our own points only, not every search failing at Kakao with an empty key.
        if isinstance(value, str) and not value.strip():
            return None
        return value
