"""`bunri-my-api`: serve my-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from my_api.settings import MyApiSettings


def main() -> None:
    settings = MyApiSettings()
    serve(
        "my_api.app:create_app",
        settings,
        host=settings.my_api_host,
        port=settings.my_api_port,
        workers=settings.my_api_workers,
    )
