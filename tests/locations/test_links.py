"""A guide leads to where its class is taken: the guide endpoint and every completed scan carry
`guide.locations_url` for a class with a place, and null for one collected at the door."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from bunri.db.base import utcnow
from bunri.db.models import Scan, ScanStatus
from bunri.locations.kinds import LOCATIONS_PATH
from bunri.scans.views import scan_view
from info_api.caching import CachePolicy
from info_api.guides import router


def linked_middle(url: str) -> str:
    parts = urlsplit(url)
    assert parts.path == f"{LOCATIONS_PATH}/for-class"
    (middle,) = parse_qs(parts.query)["middle"]
    return middle


async def test_the_guide_of_a_class_with_a_place_links_to_it() -> None:
    app = FastAPI()
    app.include_router(router)
    app.state.cache_policy = CachePolicy(max_age_seconds=60, stale_seconds=60)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://info-api"
    ) as client:
        batteries = (await client.get("/api/v1/guides/재활용폐기물/전지")).json()
        paper = (await client.get("/api/v1/guides/재활용폐기물/종이")).json()
    assert linked_middle(batteries["guide"]["locations_url"]) == "전지"
    assert paper["guide"]["locations_url"] is None


def test_a_completed_scan_links_its_guide_even_if_stored_before_the_link_existed() -> None:
    stored_result: dict[str, Any] = {
        "classification": {
            "major": "재활용폐기물",
            "middle": "의류및원단",
            "minor": None,
            "confidence": 0.9,
            "unsure": False,
            "alternatives": [],
        },
        "guide": {"title": "t", "steps": [], "cautions": [], "not_accepted": []},
        "model": {"backend": "local", "name": "waste"},
    }
    scan = Scan(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        status=ScanStatus.COMPLETED,
        progress=100,
        result=stored_result,
        created_at=utcnow(),
        completed_at=utcnow(),
    )
    guide = scan_view(scan)["result"]["guide"]
    assert linked_middle(guide["locations_url"]) == "의류및원단"
    assert "locations_url" not in stored_result["guide"]  # read-time, the row is untouched
