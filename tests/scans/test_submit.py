"""POST /api/v1/scans: what an accepted upload answers and leaves behind, and every way an upload
is refused (a specific 4xx with the error body of DESIGN.md section 8, nothing recorded, nothing
published, never a 500)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from auth_api.keys import parse_private_key
from bunri.db.models import OutboxMessage, Scan
from tests.scans.helpers import (
    assert_error,
    count_rows,
    purge_queue,
    queue_depth,
    scan_row,
)
from tests.support.keys import rsa_pem
from tests.support.pictures import photo
from tests.support.scans import submit
from tests.support.users import new_user

SCANS = "/api/v1/scans"
MAX_IMAGE_BYTES = 10 * 1024 * 1024


async def assert_nothing_recorded(engine: AsyncEngine, broker_url: str) -> None:
    assert await count_rows(engine, Scan) == 0
    assert await count_rows(engine, OutboxMessage) == 0
    assert await queue_depth(broker_url) == 0


# --- Accepted ----------------------------------------------------------------------------------


async def test_an_accepted_photo_is_a_202_saying_where_to_follow_it(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    image = photo(800, 600)
    response = await submit(idle, user, image, note="  물병 하나  ")

    assert response.status_code == 202, response.text
    body = response.json()
    assert set(body) == {"scan_id", "status", "status_url", "events_url"}
    scan_id = body["scan_id"]
    assert uuid.UUID(scan_id).version == 7
    assert body["status"] == "queued"
    assert body["status_url"] == f"{SCANS}/{scan_id}"
    assert body["events_url"] == f"{SCANS}/{scan_id}/events"
    assert response.headers["location"] == body["status_url"]
    assert "idempotent-replayed" not in response.headers
    assert response.headers["content-type"] == "application/json"

    row = await scan_row(clean_database, scan_id)
    assert row["status"] == "queued"
    assert (row["version"], row["progress"]) == (1, 0)
    assert row["note"] == "  물병 하나  "
    assert row["media_type"] == "image/jpeg"
    assert (row["size_bytes"], row["width"], row["height"]) == (len(image), 800, 600)
    assert row["idempotency_key"] is None
    assert row["original_key"] is None
    # Sent without an Idempotency-Key, the upload is not hashed: nothing would compare with it.
    assert row["request_digest"] is None
    # One confirmed message in the queue, nothing left in the outbox.
    assert await queue_depth(idle_broker_url) == 1
    assert await count_rows(clean_database, OutboxMessage) == 0

    status = await idle.get(body["status_url"], headers=user)
    assert status.status_code == 200
    scan = status.json()
    assert scan["scan_id"] == scan_id
    assert (scan["status"], scan["progress"]) == ("queued", 0)
    assert scan["image"] is None
    assert scan["result"] is None
    assert scan["error"] is None
    assert scan["completed_at"] is None


async def test_a_note_of_500_characters_is_taken_and_an_empty_one_is_none(
    idle: httpx.AsyncClient, user: dict[str, str], clean_database: AsyncEngine
) -> None:
    longest = "페" * 500  # characters, not bytes: 1,500 bytes of UTF-8
    accepted = await submit(idle, user, photo(seed=1), note=longest)
    assert accepted.status_code == 202, accepted.text
    assert (await scan_row(clean_database, accepted.json()["scan_id"]))["note"] == longest

    empty = await submit(idle, user, photo(seed=2), note="")
    assert empty.status_code == 202, empty.text
    assert (await scan_row(clean_database, empty.json()["scan_id"]))["note"] is None


async def test_an_image_of_exactly_the_limit_fits_in_the_body_allowance(
    idle: httpx.AsyncClient, user: dict[str, str]
) -> None:
    """The body limit leaves room for the multipart framing: a 10 MiB photo is not refused by
    it (and a JPEG with bytes after its end, as phones write, is accepted)."""
    image = photo(seed=3)
    padded = image + bytes(MAX_IMAGE_BYTES - len(image))
    response = await submit(idle, user, padded, note="n" * 500)
    assert response.status_code == 202, response.text


# --- Refused -----------------------------------------------------------------------------------


def _jpeg_part() -> tuple[str, bytes, str]:
    return ("photo.jpg", photo(64, 48), "image/jpeg")


REFUSED_UPLOADS: dict[str, tuple[dict[str, Any], int, str]] = {
    "no image field": (
        {"files": {"note": (None, "물병")}},
        422,
        "image_missing",
    ),
    "image sent as a text field": (
        {"files": {"image": (None, "not a file")}},
        422,
        "image_missing",
    ),
    "the file under another name": (
        {"files": {"picture": _jpeg_part()}},
        422,
        "image_missing",
    ),
    "a JSON body": (
        {"json": {"image": "aGVsbG8="}},
        415,
        "unsupported_media_type",
    ),
    "a urlencoded form": (
        {"data": {"image": "aGVsbG8="}},
        415,
        "unsupported_media_type",
    ),
    "raw JPEG bytes": (
        {"content": photo(64, 48), "headers": {"Content-Type": "image/jpeg"}},
        415,
        "unsupported_media_type",
    ),
    "no content type": (
        {"content": b"x"},
        415,
        "unsupported_media_type",
    ),
    "note over 500 characters": (
        {"files": {"image": _jpeg_part()}, "data": {"note": "가" * 501}},
        422,
        "note_too_long",
    ),
    "note sent as a file": (
        {"files": {"image": _jpeg_part(), "note": ("note.txt", b"hello", "text/plain")}},
        400,
        "invalid_upload",
    ),
    "two files": (
        {"files": [("image", _jpeg_part()), ("image", _jpeg_part())]},
        400,
        "invalid_upload",
    ),
    "too many fields": (
        {"files": {"image": _jpeg_part()}, "data": {f"f{i}": "x" for i in range(8)}},
        400,
        "invalid_upload",
    ),
    "multipart without a boundary": (
        {"content": b"--x\r\n", "headers": {"Content-Type": "multipart/form-data"}},
        400,
        "invalid_upload",
    ),
    "multipart that is not": (
        {
            "content": b"this is not multipart at all",
            "headers": {"Content-Type": "multipart/form-data; boundary=abc"},
        },
        400,
        "invalid_upload",
    ),
    "a part without a name": (
        {
            "content": b'--abc\r\nContent-Disposition: form-data; filename="a.jpg"\r\n\r\n'
            b"xyz\r\n--abc--\r\n",
            "headers": {"Content-Type": "multipart/form-data; boundary=abc"},
        },
        400,
        "invalid_upload",
    ),
    "a GIF": (
        {"files": {"image": ("a.jpg", b"GIF89a" + bytes(64), "image/jpeg")}},
        415,
        "unsupported_media_type",
    ),
    "an empty file": (
        {"files": {"image": ("a.jpg", b"", "image/jpeg")}},
        415,
        "unsupported_media_type",
    ),
    "a cut-off JPEG": (
        {"files": {"image": ("a.jpg", photo(640, 480)[:3000], "image/jpeg")}},
        422,
        "image_corrupt",
    ),
}


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code"),
    list(REFUSED_UPLOADS.values()),
    ids=list(REFUSED_UPLOADS),
)
async def test_a_bad_upload_is_refused_with_its_code_and_leaves_nothing(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
    request_kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    kwargs = dict(request_kwargs)
    headers = user | kwargs.pop("headers", {})
    response = await idle.post(SCANS, headers=headers, **kwargs)
    assert_error(response, status, code)
    await assert_nothing_recorded(clean_database, idle_broker_url)


@pytest.mark.parametrize(
    "key",
    ["has spaces", " leading", "a" * 256, "", "탭", "tab\there", "line\x7f"],
    ids=["spaces", "leading-space", "256-chars", "empty", "non-ascii", "tab", "del"],
)
async def test_a_bad_idempotency_key_is_a_400(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
    key: str,
) -> None:
    response = await idle.post(
        SCANS,
        # As bytes: a client may send any octets, UTF-8 included, in a header.
        headers=[
            *((name.encode(), value.encode()) for name, value in user.items()),
            (b"Idempotency-Key", key.encode()),
        ],
        files={"image": _jpeg_part()},
    )
    assert_error(response, 400, "invalid_idempotency_key")
    await assert_nothing_recorded(clean_database, idle_broker_url)


async def test_an_idempotency_key_of_255_printable_characters_is_taken(
    idle: httpx.AsyncClient, user: dict[str, str], clean_database: AsyncEngine
) -> None:
    key = "".join(chr(33 + i % 94) for i in range(255))
    response = await submit(idle, user, photo(), **{"Idempotency-Key": key})
    assert response.status_code == 202, response.text
    assert (await scan_row(clean_database, response.json()["scan_id"]))["idempotency_key"] == key


# --- Too large ---------------------------------------------------------------------------------


class CountingBody:
    """A request body that records whether anyone read it."""

    def __init__(self, size: int, chunk: int = 64 * 1024) -> None:
        self.size = size
        self.chunk = chunk
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        # A well-formed start (so the parser keeps reading) and a file part that never ends.
        head = (
            b'--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff"
        )
        self.sent = len(head)
        yield head
        while self.sent < self.size:
            piece = min(self.chunk, self.size - self.sent)
            self.sent += piece
            yield b"\0" * piece


@pytest.mark.parametrize("authenticated", [True, False], ids=["with-token", "without-token"])
async def test_a_body_declared_too_large_is_a_413_before_a_byte_is_read(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
    authenticated: bool,
) -> None:
    body = CountingBody(50 * 1024 * 1024)
    headers = {
        "Content-Type": "multipart/form-data; boundary=xyz",
        "Content-Length": str(body.size),
    } | (user if authenticated else {})
    response = await idle.post(SCANS, headers=headers, content=body)
    assert_error(response, 413, "image_too_large")
    assert body.sent == 0  # refused on the declared length alone: not even the first chunk
    await assert_nothing_recorded(clean_database, idle_broker_url)


async def test_a_streamed_body_that_grows_too_large_is_a_413(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    """No Content-Length (chunked): the body is counted as it arrives and cut at the limit."""
    body = CountingBody(30 * 1024 * 1024)
    headers = user | {"Content-Type": "multipart/form-data; boundary=xyz"}
    response = await idle.post(SCANS, headers=headers, content=body)
    assert_error(response, 413, "image_too_large")
    assert body.sent < 12 * 1024 * 1024  # not read to its end
    await assert_nothing_recorded(clean_database, idle_broker_url)


async def test_a_file_one_byte_over_the_limit_is_a_413(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    """Within the body allowance (multipart framing), so it is the image check that refuses."""
    image = photo(seed=4)
    oversize = image + bytes(MAX_IMAGE_BYTES + 1 - len(image))
    response = await submit(idle, user, oversize)
    assert_error(response, 413, "image_too_large")
    await assert_nothing_recorded(clean_database, idle_broker_url)


# --- Tokens ------------------------------------------------------------------------------------


async def _user_id(auth_url: str, headers: dict[str, str]) -> str:
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        me = await auth.get("/api/v1/auth/me", headers=headers)
        assert me.status_code == 200, me.text
        return str(me.json()["id"])


def _mint(pem: str, user_id: str, **changes: Any) -> str:
    """An access token signed like auth-api signs them, with `changes` to its claims."""
    key = parse_private_key(pem.encode())
    now = int(time.time())
    claims = {
        "iss": "bunri-auth",
        "aud": "bunri-api",
        "sub": user_id,
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    } | changes
    return jwt.encode(
        claims,
        key.private_key,
        algorithm=key.public.algorithm,
        headers={"kid": key.public.kid, "typ": "at+jwt"},
    )


async def _bad_credentials(
    auth_url: str, signing_key: str
) -> dict[str, tuple[dict[str, str], str]]:
    victim = await new_user(auth_url)
    user_id = await _user_id(auth_url, victim)
    now = int(time.time())
    revoked = await new_user(auth_url)
    async with httpx.AsyncClient(base_url=auth_url) as auth:
        logout = await auth.post("/api/v1/auth/logout", headers=revoked)
        assert logout.status_code == 204, logout.text
    return {
        "no header": ({}, "token_missing"),
        "empty bearer": ({"Authorization": "Bearer "}, "token_invalid"),
        "not bearer": ({"Authorization": "Basic dXNlcjpwYXNz"}, "token_invalid"),
        "garbage": ({"Authorization": "Bearer not.a.jwt"}, "token_invalid"),
        "huge": ({"Authorization": "Bearer " + "a" * 5000}, "token_invalid"),
        "expired": (
            {
                "Authorization": "Bearer "
                + _mint(signing_key, user_id, iat=now - 900, exp=now - 300)
            },
            "token_expired",
        ),
        "wrong audience": (
            {"Authorization": "Bearer " + _mint(signing_key, user_id, aud="someone-else")},
            "token_invalid",
        ),
        "foreign key": (
            {"Authorization": "Bearer " + _mint(rsa_pem(), user_id)},
            "token_invalid",
        ),
        "revoked": (revoked, "token_revoked"),
    }


async def test_without_a_good_token_every_scan_route_is_a_401_with_its_code(
    idle: httpx.AsyncClient,
    user: dict[str, str],
    auth_url: str,
    signing_key: str,
    clean_database: AsyncEngine,
    idle_broker_url: str,
) -> None:
    owned = await submit(idle, user, photo())
    assert owned.status_code == 202
    scan = owned.json()["status_url"]
    await purge_queue(idle_broker_url)
    rows_before = await count_rows(clean_database, Scan)

    for name, (headers, code) in (await _bad_credentials(auth_url, signing_key)).items():
        requests = [
            idle.post(SCANS, headers=headers, files={"image": _jpeg_part()}),
            # A bad token is what the caller hears about, even when the upload is bad too (a
            # revoked token's body is read while Redis is asked).
            idle.post(SCANS, headers=headers, content=b"not a form"),
            idle.get(SCANS, headers=headers),
            idle.get(scan, headers=headers),
            idle.get(f"{scan}/events", headers=headers),
            idle.get(f"{scan}/image", headers=headers),
            idle.get(f"{scan}/thumbnail", headers=headers),
        ]
        for request in requests:
            response = await request
            assert_error(response, 401, code)
            assert response.headers["www-authenticate"].startswith("Bearer"), name

    assert await count_rows(clean_database, Scan) == rows_before
    assert await queue_depth(idle_broker_url) == 0


async def test_a_token_checked_before_the_body_is_parsed(
    idle: httpx.AsyncClient, clean_database: AsyncEngine, idle_broker_url: str
) -> None:
    """Without a token, even a malformed upload is a 401: nothing is parsed for strangers."""
    response = await idle.post(
        SCANS,
        headers={"Content-Type": "multipart/form-data; boundary=abc"},
        content=b"garbage",
    )
    assert_error(response, 401, "token_missing")
    await assert_nothing_recorded(clean_database, idle_broker_url)
