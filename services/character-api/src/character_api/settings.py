from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bunri.settings import BrokerSettings


class CharacterApiSettings(BrokerSettings):
    service_name: str = "character-api"

    character_api_host: str = "127.0.0.1"
    character_api_port: int = 8005
    character_api_workers: int = Field(default=1, ge=1)

    claim_attempts: int = Field(
        default=5, ge=1, description="Compare-and-set tries a mission claim makes."
    )
    character_rules_path: Path | None = Field(
        default=None,
        description="A rules file other than the shipped bunri/character/data/rules.toml "
        "(the character worker must read the same one).",
    )
    character_missions_path: Path | None = Field(
        default=None,
        description="A missions file other than the shipped bunri/character/data/missions.toml.",
    )
