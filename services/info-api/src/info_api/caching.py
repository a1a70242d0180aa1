"""Answers that a browser, the app and a CDN may keep: a strong ETag (the body's digest, so it
changes exactly when the guide data does), Cache-Control with stale-while-revalidate, and 304
for an If-None-Match that names the current ETag."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "If-None-Match named the current ETag"}
}
ETAG_HEADER: dict[str, Any] = {"ETag": {"description": "The answer's digest, quoted", "schema": {}}}


@dataclass(frozen=True)
class CachePolicy:
    max_age_seconds: int
    stale_seconds: int

    @property
    def cache_control(self) -> str:
        return (
            f"public, max-age={self.max_age_seconds}, stale-while-revalidate={self.stale_seconds}"
        )

    def answer(self, request: Request, body: object) -> Response:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        etag = f'"{hashlib.sha256(raw).hexdigest()[:32]}"'
        headers = {"ETag": etag, "Cache-Control": self.cache_control}
        asked = request.headers.get("if-none-match", "")
        if etag in (tag.strip().removeprefix("W/") for tag in asked.split(",")) or asked == "*":
            return Response(status_code=304, headers=headers)
        return Response(raw, media_type="application/json", headers=headers)
