"""A control character in a scan's note (the multipart form) or its feedback is a 422
`invalid_text` (bunri.web.text), not a 500 from PostgreSQL; a note in paragraphs is taken."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import Scan
from tests.scans.helpers import assert_error, count_rows
from tests.support.pictures import photo
from tests.support.scans import submit


@pytest.mark.parametrize("note", ["종이\x00", "a\x1bb", "\u202e종이"])
async def test_a_control_character_in_the_note_is_invalid_text(
    idle: httpx.AsyncClient, user: dict[str, str], clean_database: AsyncEngine, note: str
) -> None:
    response = await submit(idle, user, photo(), note=note)
    assert_error(response, 422, "invalid_text")
    assert "'note'" in response.json()["error"]["message"]
    assert await count_rows(clean_database, Scan) == 0


async def test_a_note_in_paragraphs_is_taken(idle: httpx.AsyncClient, user: dict[str, str]) -> None:
    response = await submit(idle, user, photo(), note="신문지예요.\n\t테이프는 뗐어요.")
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"correct": {"major": "재활용폐기물", "middle": "종이"}, "note": "a\x00"},
        {"correct": {"major": "재활용\x00폐기물", "middle": "종이"}},
    ],
    ids=["note", "class"],
)
async def test_a_nul_in_feedback_is_invalid_text(
    idle: httpx.AsyncClient, user: dict[str, str], body: dict[str, object]
) -> None:
    # Refused at the boundary, before the scan is even looked for.
    response = await idle.post(f"/api/v1/scans/{uuid.uuid4()}/feedback", headers=user, json=body)
    assert_error(response, 422, "invalid_text")
