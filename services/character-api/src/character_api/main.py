"""`bunri-character-api`: serve character-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from character_api.settings import CharacterApiSettings


def main() -> None:
    settings = CharacterApiSettings()
    serve(
        "character_api.app:create_app",
        settings,
        host=settings.character_api_host,
        port=settings.character_api_port,
        workers=settings.character_api_workers,
    )
