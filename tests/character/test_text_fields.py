"""A control character in a campaign's name (body or path) or a mission id is a 422
`invalid_text` (bunri.web.text), not a 500 from PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.character import CHARACTER, admin, error_code

CAMPAIGNS = f"{CHARACTER}/campaigns"


async def test_a_nul_in_a_campaign_name_is_invalid_text(
    character: httpx.AsyncClient, auth_url: str, clean_database: AsyncEngine
) -> None:
    boss = await admin(auth_url, clean_database)
    body = {"name": "spring\x00", "points": 5, "all": True}
    response = await character.post(CAMPAIGNS, headers=boss.headers, json=body)
    assert error_code(response, 422) == "invalid_text"
    name = quote("spring\x00")
    response = await character.get(f"{CAMPAIGNS}/{name}", headers=boss.headers)
    assert error_code(response, 422) == "invalid_text"
