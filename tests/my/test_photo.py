"""The profile photo through the real storage worker: squares made, metadata gone, the earlier
photo's objects deleted only once the new ones are in place, and a bad photo refused."""

from __future__ import annotations

import io
import subprocess
import uuid
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.messaging.protocol import TaskCall
from bunri.messaging.tasks import STORE_PROFILE_PHOTO
from tests.support.my import send_task, wait_for_photo
from tests.support.pictures import GPS_IFD, gps_photo, photo

PROFILE = "/api/v1/my/profile"
PHOTO = "/api/v1/my/profile/photo"


def s3_keys(pipeline_env: dict[str, str], prefix: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=pipeline_env["BUNRI_S3_ENDPOINT_URL"],
        region_name="ap-northeast-2",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    listed = s3.list_objects_v2(Bucket=pipeline_env["BUNRI_S3_BUCKET"], Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", ()))


async def upload(my: httpx.AsyncClient, user: dict[str, str], data: bytes) -> httpx.Response:
    return await my.post(PHOTO, headers=user, files={"image": ("me.jpg", data, "image/jpeg")})


async def fetched(my: httpx.AsyncClient, user: dict[str, str], url: str) -> Image.Image:
    """The image behind a profile's photo URL: a redirect to S3, followed as a phone would."""
    answer = await my.get(url, headers=user)
    assert answer.status_code == 307, answer.text
    async with httpx.AsyncClient() as outside:
        stored = await outside.get(answer.headers["location"])
    assert stored.status_code == 200
    return Image.open(io.BytesIO(stored.content))


@pytest.fixture
def worker(storage_worker: subprocess.Popen[bytes]) -> None:
    """Name this fixture to have the storage worker running."""


@pytest.mark.usefixtures("worker")
async def test_a_photo_becomes_two_squares_without_its_metadata(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    accepted = await upload(my, user, gps_photo(orientation=6))
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["photo"]["status"] == "processing"
    assert accepted.headers["ETag"] == f'"{accepted.json()["version"]}"'

    profile = await wait_for_photo(my, user, "ready")
    large = await fetched(my, user, profile["photo"]["url"])
    small = await fetched(my, user, profile["photo"]["thumbnail_url"])
    assert (large.format, large.size) == ("JPEG", (512, 512))
    assert (small.format, small.size) == ("JPEG", (96, 96))
    for image in (large, small):
        exif = image.getexif()
        assert not exif.get_ifd(GPS_IFD)
        assert 0x010F not in exif  # the camera's make
        assert "icc_profile" not in image.info
        assert "comment" not in image.info


@pytest.mark.usefixtures("worker")
async def test_a_new_photo_replaces_the_old_and_its_objects_go(
    my: httpx.AsyncClient, user: dict[str, str], pipeline_env: dict[str, str]
) -> None:
    await upload(my, user, photo(seed=1))
    first = await wait_for_photo(my, user, "ready")
    user_id = first["user_id"]
    assert len(s3_keys(pipeline_env, f"profiles/{user_id}/1/")) == 2

    await upload(my, user, photo(seed=2))
    second = await wait_for_photo(my, user, "ready")
    assert second["photo"]["url"] != first["photo"]["url"]
    assert s3_keys(pipeline_env, f"profiles/{user_id}/") == [
        f"profiles/{user_id}/2/512.jpg",
        f"profiles/{user_id}/2/96.jpg",
    ]


@pytest.mark.usefixtures("worker")
async def test_removing_the_photo_deletes_its_objects(
    my: httpx.AsyncClient, user: dict[str, str], pipeline_env: dict[str, str]
) -> None:
    await upload(my, user, photo(seed=3))
    profile = await wait_for_photo(my, user, "ready")
    removed = await my.delete(PHOTO, headers=user)
    assert removed.status_code == 200, removed.text
    assert removed.json()["photo"] == {
        "status": "none",
        "url": None,
        "thumbnail_url": None,
        "error": None,
    }
    assert (await my.get(PHOTO, headers=user)).json()["error"]["code"] == "photo_not_found"
    await _eventually_empty(pipeline_env, f"profiles/{profile['user_id']}/")
    again = await my.delete(PHOTO, headers=user)
    assert (again.status_code, again.json()["error"]["code"]) == (404, "photo_not_found")


async def test_a_cut_off_photo_is_refused_at_once_and_the_profile_stays(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    before = (await my.get(PROFILE, headers=user)).json()
    whole = photo(seed=5, width=1200, height=900)
    answer = await upload(my, user, whole[: len(whole) // 3])
    assert (answer.status_code, answer.json()["error"]["code"]) == (422, "image_corrupt")
    assert (await my.get(PROFILE, headers=user)).json() == before


@pytest.mark.usefixtures("worker")
async def test_a_photo_the_worker_cannot_read_fails_and_the_old_one_stays(
    my: httpx.AsyncClient,
    user: dict[str, str],
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
) -> None:
    """What passed the accept path's header check but not the decode (here: a task carrying
    bytes no decoder reads, as a damaged upload would reach the worker)."""
    await upload(my, user, photo(seed=4))
    good = await wait_for_photo(my, user, "ready")
    async with clean_database.begin() as connection:
        await connection.execute(
            text(
                "UPDATE profiles SET photo_status = 'processing', photo_upload = 2,"
                " version = version + 1 WHERE user_id = :user_id"
            ),
            {"user_id": good["user_id"]},
        )
    call = TaskCall(
        STORE_PROFILE_PHOTO,
        uuid.UUID(good["user_id"]),
        {"upload": 2, "image": b"\xff\xd8\xff not really a photo"},
        unit="2",
    )
    send_task(pipeline_env["BUNRI_BROKER_URL"], call)
    failed = await wait_for_photo(my, user, "failed")
    assert failed["photo"]["error"] == "image_corrupt"
    assert failed["photo"]["url"] == good["photo"]["url"]
    assert (await fetched(my, user, failed["photo"]["url"])).size == (512, 512)


@pytest.mark.parametrize(
    ("kind", "send", "status", "code"),
    [
        ("not multipart", {"json": {"image": "x"}}, 415, "unsupported_media_type"),
        ("no image field", {"files": {"picture": ("a.jpg", b"x", "image/jpeg")}}, 422, None),
        ("not an image", {"files": {"image": ("a.txt", b"hello", "text/plain")}}, 415, None),
    ],
)
async def test_what_is_not_a_photo_is_refused_at_once(
    my: httpx.AsyncClient,
    user: dict[str, str],
    kind: str,
    send: dict[str, Any],
    status: int,
    code: str | None,
) -> None:
    before = (await my.get(PROFILE, headers=user)).json()
    answer = await my.post(PHOTO, headers=user, **send)
    assert answer.status_code == status, (kind, answer.text)
    assert set(answer.json()["error"]) >= {"code", "message"}
    if code is not None:
        assert answer.json()["error"]["code"] == code
    assert (await my.get(PROFILE, headers=user)).json() == before


async def test_a_photo_larger_than_allowed_is_refused(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    big = b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024)
    answer = await upload(my, user, big)
    assert answer.status_code == 413, answer.text


async def test_there_is_no_photo_to_show_before_one_is_uploaded(
    my: httpx.AsyncClient, user: dict[str, str]
) -> None:
    for path in (PHOTO, f"{PHOTO}/thumbnail"):
        answer = await my.get(path, headers=user)
        assert (answer.status_code, answer.json()["error"]["code"]) == (404, "photo_not_found")


async def _eventually_empty(pipeline_env: dict[str, str], prefix: str, seconds: float = 30) -> None:
    import asyncio
    import time

    deadline = time.monotonic() + seconds
    while s3_keys(pipeline_env, prefix):
        assert time.monotonic() < deadline, s3_keys(pipeline_env, prefix)
        await asyncio.sleep(0.1)
