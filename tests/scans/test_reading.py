"""Reading scans back: one scan (the shape of DESIGN.md section 3), the caller's list with cursor
pagination, the stored image and thumbnail (presigned S3 redirects to re-encoded JPEGs without
metadata, under keys from the scan id only), and someone else's scan being a 404 everywhere."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageChops, ImageOps, ImageStat

from ai_worker.classifier.model_file import read_metadata
from ai_worker.models import BUNDLED_MODEL
from bunri.db.models import ScanStatus
from bunri.guides import load_taxonomy
from bunri.locations.kinds import locations_link
from tests.scans.helpers import (
    Driver,
    assert_error,
    open_image,
    s3_keys,
    s3_object,
)
from tests.support.pictures import gps_photo, photo
from tests.support.scans import submit, wait_until_done
from tests.support.users import new_user

SCANS = "/api/v1/scans"
# Fixed so that every xdist worker collects the same parameter ids.
UNKNOWN_SCAN = "8e1c6a52-0000-4000-8000-000000000404"


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def assert_iso_datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, value
    return parsed


# --- One scan ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("pipeline")
async def test_a_completed_scan_reads_as_the_design_says(
    client: httpx.AsyncClient, user: dict[str, str]
) -> None:
    accepted = await submit(client, user, photo(seed=31), note="투명 생수병")
    scan_id = accepted.json()["scan_id"]
    done = await wait_until_done(client, user, scan_id)

    assert set(done) == {
        "scan_id",
        "status",
        "progress",
        "note",
        "created_at",
        "completed_at",
        "image",
        "result",
        "error",
        "feedback",
    }
    assert done["scan_id"] == scan_id
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["note"] == "투명 생수병"
    assert done["error"] is None
    assert done["feedback"] is None  # none given yet (tests/scans/test_feedback.py)
    assert assert_iso_datetime(done["completed_at"]) >= assert_iso_datetime(done["created_at"])
    assert done["image"] == {
        "url": f"{SCANS}/{scan_id}/image",
        "thumbnail_url": f"{SCANS}/{scan_id}/thumbnail",
    }

    result = done["result"]
    assert set(result) == {"classification", "guide", "model"}
    classification = result["classification"]
    taxonomy = load_taxonomy()
    middle = taxonomy.middle(classification["major"], classification["middle"])
    assert classification["minor"] is None or classification["minor"] in {
        minor.name for minor in middle.minors
    }
    assert 0 <= classification["confidence"] <= 1
    calibrated = read_metadata(BUNDLED_MODEL).unsure_below
    assert classification["unsure"] is (classification["confidence"] < calibrated)
    alternatives = classification["alternatives"]
    assert len(alternatives) <= 3
    for alternative in alternatives:
        taxonomy.middle(alternative["major"], alternative["middle"])  # a real class
        assert 0 <= alternative["confidence"] <= classification["confidence"]
    assert [a["confidence"] for a in alternatives] == sorted(
        (a["confidence"] for a in alternatives), reverse=True
    )
    # The guide is the one of the class found, Korean first with English beside it, and where
    # to take it when the class has a place (location-api).
    link = locations_link(middle.name)
    assert result["guide"] == middle.guide.as_api() | {"locations_url": link}
    assert result["guide"]["steps"]
    assert result["guide"]["steps_en"]
    assert result["model"] == {"backend": "local", "name": BUNDLED_MODEL.stem}


async def test_a_queued_scan_has_no_image_result_or_error_yet(
    idle: httpx.AsyncClient, user: dict[str, str]
) -> None:
    scan_id = (await submit(idle, user, photo(seed=32))).json()["scan_id"]
    body = (await idle.get(f"{SCANS}/{scan_id}", headers=user)).json()
    assert (body["status"], body["progress"]) == ("queued", 0)
    assert body["image"] is None
    assert body["result"] is None
    assert body["error"] is None
    assert body["completed_at"] is None
    for variant in ("image", "thumbnail"):
        assert_error(
            await idle.get(f"{SCANS}/{scan_id}/{variant}", headers=user), 404, "image_not_stored"
        )


async def test_a_failed_scan_says_why_and_has_no_image(
    idle: httpx.AsyncClient, user: dict[str, str], pipeline_env: dict[str, str]
) -> None:
    scan_id = (await submit(idle, user, photo(seed=33))).json()["scan_id"]
    driver = Driver(pipeline_env)
    try:
        await driver.advance(scan_id, ScanStatus.STORING)
        await driver.fail(scan_id, "image_corrupt", "The image could not be read.")
    finally:
        driver.close()
    body = (await idle.get(f"{SCANS}/{scan_id}", headers=user)).json()
    assert (body["status"], body["progress"]) == ("failed", 20)
    assert body["error"] == {"code": "image_corrupt", "message": "The image could not be read."}
    assert body["result"] is None
    assert body["image"] is None
    assert body["completed_at"] is not None
    for variant in ("image", "thumbnail"):
        assert_error(
            await idle.get(f"{SCANS}/{scan_id}/{variant}", headers=user), 404, "image_not_stored"
        )


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{SCANS}/{UNKNOWN_SCAN}", 404, "scan_not_found"),
        (f"{SCANS}/{UNKNOWN_SCAN}/image", 404, "scan_not_found"),
        (f"{SCANS}/{UNKNOWN_SCAN}/thumbnail", 404, "scan_not_found"),
        (f"{SCANS}/{UNKNOWN_SCAN}/events", 404, "scan_not_found"),
        (f"{SCANS}/{UNKNOWN_SCAN}/feedback", 404, "scan_not_found"),
        (f"{SCANS}/not-a-uuid/feedback", 422, "validation_error"),
        (f"{SCANS}/not-a-uuid", 422, "validation_error"),
        (f"{SCANS}/not-a-uuid/image", 422, "validation_error"),
        (f"{SCANS}/{UNKNOWN_SCAN}/original", 404, "not_found"),
    ],
)
async def test_unknown_scans_are_404_and_malformed_ids_422(
    idle: httpx.AsyncClient, user: dict[str, str], path: str, status: int, code: str
) -> None:
    assert_error(await idle.get(path, headers=user), status, code)


# --- The list ----------------------------------------------------------------------------------


async def test_the_list_pages_through_every_scan_newest_first(
    idle: httpx.AsyncClient, user: dict[str, str], auth_url: str
) -> None:
    created = []
    for seed in range(7):
        response = await submit(idle, user, photo(96, 64, seed=seed), note=f"#{seed}")
        assert response.status_code == 202
        created.append(response.json()["scan_id"])
    other = await new_user(auth_url)
    assert (await submit(idle, other, photo(96, 64, seed=99))).status_code == 202

    seen: list[str] = []
    pages: list[int] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await idle.get(SCANS, headers=user, params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"items", "next_cursor"}
        pages.append(len(page["items"]))
        seen.extend(item["scan_id"] for item in page["items"])
        for item in page["items"]:
            single = (await idle.get(f"{SCANS}/{item['scan_id']}", headers=user)).json()
            assert item == single  # list items read as the scan itself
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "the cursor never ends"

    assert pages == [3, 3, 1]
    assert seen == list(reversed(created))  # newest first, each once, the other user's absent

    whole = (await idle.get(SCANS, headers=user)).json()  # default limit 20
    assert [item["scan_id"] for item in whole["items"]] == seen
    assert whole["next_cursor"] is None
    exact = (await idle.get(SCANS, headers=user, params={"limit": 7})).json()
    assert len(exact["items"]) == 7
    assert exact["next_cursor"] is None


async def test_an_empty_list(idle: httpx.AsyncClient, user: dict[str, str]) -> None:
    response = await idle.get(SCANS, headers=user)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "abcde",
        "한글",
        base64.urlsafe_b64encode(b"short").decode(),
        base64.urlsafe_b64encode(bytes(17)).decode().rstrip("="),
        "====",
        "%00",
        "a" * 65,
    ],
)
async def test_a_cursor_this_api_did_not_hand_out_is_a_400(
    idle: httpx.AsyncClient, user: dict[str, str], cursor: str
) -> None:
    response = await idle.get(SCANS, headers=user, params={"cursor": cursor})
    assert_error(response, 400, "invalid_cursor")


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "ten"}],
)
async def test_limits_out_of_range_are_a_422(
    idle: httpx.AsyncClient, user: dict[str, str], params: dict[str, Any]
) -> None:
    assert_error(await idle.get(SCANS, headers=user, params=params), 422, "validation_error")


# --- Images ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("pipeline")
async def test_the_stored_image_is_upright_without_metadata_under_a_key_of_the_scan_id(
    client: httpx.AsyncClient, user: dict[str, str], pipeline_env: dict[str, str]
) -> None:
    upload = gps_photo(orientation=6)
    accepted = await submit(client, user, upload, filename="../../etc/passwd.jpg")
    assert accepted.status_code == 202, accepted.text
    scan_id = accepted.json()["scan_id"]
    done = await wait_until_done(client, user, scan_id)
    assert done["status"] == "completed", done

    # Keys from the scan id only, whatever the file was called.
    assert sorted(s3_keys(pipeline_env, f"scans/{scan_id}/")) == [
        f"scans/{scan_id}/original.jpg",
        f"scans/{scan_id}/thumbnail.jpg",
    ]
    assert not [key for key in s3_keys(pipeline_env) if "passwd" in key or "etc/" in key]

    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(upload)))
    assert upright.size == (480, 640)
    bucket = pipeline_env["BUNRI_S3_BUCKET"]
    s3 = urlsplit(pipeline_env["BUNRI_S3_ENDPOINT_URL"])

    async with httpx.AsyncClient() as outside:
        for endpoint, variant, longest in (
            ("image", "original", 640),
            ("thumbnail", "thumbnail", 320),
        ):
            redirect = await client.get(f"{SCANS}/{scan_id}/{endpoint}", headers=user)
            assert redirect.status_code == 307, redirect.text
            assert redirect.headers["cache-control"].startswith("private")
            location = urlsplit(redirect.headers["location"])
            assert location.netloc == s3.netloc
            assert location.path == f"/{bucket}/scans/{scan_id}/{variant}.jpg"
            assert "Signature" in location.query or "X-Amz-Signature" in location.query

            fetched = await outside.get(redirect.headers["location"])
            assert fetched.status_code == 200, fetched.text
            assert fetched.headers["content-type"] == "image/jpeg"
            data = fetched.content
            assert data == s3_object(pipeline_env, f"scans/{scan_id}/{variant}.jpg")
            assert data.startswith(b"\xff\xd8\xff")

            image = open_image(data)
            assert image.format == "JPEG"
            assert max(image.size) == longest
            assert image.width / image.height == pytest.approx(480 / 640, abs=0.01)
            # No metadata of any kind survived: no EXIF (so no GPS, no orientation to apply
            # twice), no XMP, no comment, no profile.
            assert not image.getexif()
            assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
            for secret in (b"Exif\x00\x00", b"BunriCam", b"bunri-secret-camera", b"2024:05:01"):
                assert secret not in data
            # Upright: what a viewer shows for the upload is what is stored.
            assert mean_difference(image, upright.resize(image.size)) < 12


async def test_an_image_read_goes_nowhere_without_the_scan_being_the_callers(
    idle: httpx.AsyncClient, user: dict[str, str], auth_url: str
) -> None:
    """Before it is stored, the owner hears `image_not_stored`; anyone else hears nothing of the
    scan at all."""
    scan_id = (await submit(idle, user, photo(seed=34))).json()["scan_id"]
    other = await new_user(auth_url)
    assert_error(await idle.get(f"{SCANS}/{scan_id}/image", headers=user), 404, "image_not_stored")
    assert_error(await idle.get(f"{SCANS}/{scan_id}/image", headers=other), 404, "scan_not_found")


# --- Another user's scans ----------------------------------------------------------------------


@pytest.mark.usefixtures("pipeline")
async def test_another_users_scan_is_a_404_everywhere(
    client: httpx.AsyncClient, user: dict[str, str], auth_url: str
) -> None:
    scan_id = (await submit(client, user, photo(seed=35))).json()["scan_id"]
    done = await wait_until_done(client, user, scan_id)
    assert done["status"] == "completed"
    intruder = await new_user(auth_url)
    intruders_own = (await submit(client, intruder, photo(seed=36))).json()["scan_id"]

    for path in (
        f"{SCANS}/{scan_id}",
        f"{SCANS}/{scan_id}/events",
        f"{SCANS}/{scan_id}/events?resume_after=1",
        f"{SCANS}/{scan_id}/image",
        f"{SCANS}/{scan_id}/thumbnail",
        f"{SCANS}/{scan_id}/feedback",
    ):
        response = await client.get(path, headers=intruder)
        assert_error(response, 404, "scan_not_found")
        assert "location" not in response.headers
        # The same answer as for a scan that does not exist at all.
        missing = await client.get(path.replace(scan_id, str(uuid.uuid4())), headers=intruder)
        assert response.json() == missing.json()
    # Resuming with Last-Event-ID changes nothing either.
    events = await client.get(
        f"{SCANS}/{scan_id}/events", headers=intruder | {"Last-Event-ID": "1"}
    )
    assert_error(events, 404, "scan_not_found")

    listed = (await client.get(SCANS, headers=intruder)).json()
    assert [item["scan_id"] for item in listed["items"]] == [intruders_own]
    # The owner's cursor, replayed by the intruder, still lists only the intruder's scans.
    own = (await client.get(SCANS, headers=user, params={"limit": 1})).json()
    assert [item["scan_id"] for item in own["items"]] == [scan_id]
    cursor = base64.urlsafe_b64encode(uuid.UUID(int=(1 << 128) - 1).bytes).decode().rstrip("=")
    replayed = (await client.get(SCANS, headers=intruder, params={"cursor": cursor})).json()
    assert [item["scan_id"] for item in replayed["items"]] == [intruders_own]


async def test_the_openapi_contract_shows_the_typed_result(idle: httpx.AsyncClient) -> None:
    spec = (await idle.get(f"{SCANS}/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    result = schemas["ScanOut"]["properties"]["result"]
    assert any(option.get("$ref", "").endswith("/ScanResult") for option in result.get("anyOf", []))
    assert set(schemas["ScanResult"]["properties"]) == {"classification", "guide", "model"}
    assert set(schemas["Classification"]["properties"]) == {
        "major",
        "middle",
        "minor",
        "confidence",
        "unsure",
        "alternatives",
    }
