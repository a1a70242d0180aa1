"""`bunri-chat-api`: serve chat-api with uvicorn."""

from __future__ import annotations

from bunri.web.app import serve
from chat_api.settings import ChatApiSettings


def main() -> None:
    settings = ChatApiSettings()
    serve(
        "chat_api.app:create_app",
        settings,
        host=settings.chat_api_host,
        port=settings.chat_api_port,
        workers=settings.chat_api_workers,
    )
