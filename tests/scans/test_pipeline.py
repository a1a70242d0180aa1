"""Scans end to end through real workers."""

from __future__ import annotations

import httpx
import pytest

from tests.support.pictures import photo
from tests.support.scans import submit, wait_until_done

pytestmark = pytest.mark.usefixtures("pipeline")


async def test_a_photo_becomes_a_disposal_answer(
    client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    accepted = await submit(client, user, photo(), note="물병")
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "queued"
    assert accepted.headers["location"] == body["status_url"]

    done = await wait_until_done(client, user, body["scan_id"])

    assert done["status"] == "completed", done
    assert done["progress"] == 100
    result = done["result"]
    assert result["model"]["backend"] == "local"
    classification = result["classification"]
    assert {"major", "middle", "minor", "confidence", "unsure", "alternatives"} <= set(
        classification
    )
    assert result["guide"]["steps"]
    assert done["image"]["url"].endswith("/image")
