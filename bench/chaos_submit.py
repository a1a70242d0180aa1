"""Submitting scans the way the mobile app does: real photos at a steady rate (open loop: the next
upload does not wait for the last answer), each with its own Idempotency-Key, and a refused or
unanswered upload sent again, same key, same bytes, until it is accepted."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.pictures import photo

log = logging.getLogger("chaos")

TRASHNET = Path("/work/shared/data/trashnet")
CRASH_MARKER = b"BUNRI-CRASH-TEST"
PHOTOS_PER_CLASS = 3
# A client that has not got its upload accepted after this long gives up (and the run fails).
GIVE_UP_SECONDS = 300.0


def load_photos() -> list[bytes]:
    """A few real photos of each TrashNet class, read in place (never copied into the repo); the
    tests' synthetic photos where the data set is absent."""
    found = [
        path.read_bytes()
        for folder in sorted(TRASHNET.iterdir() if TRASHNET.is_dir() else [])
        if folder.is_dir() and folder.name != "splits"
        for path in sorted(folder.glob("*.jpg"))[:PHOTOS_PER_CLASS]
    ]
    return found or [photo(seed=seed) for seed in range(6)]


def with_crash_marker(jpeg: bytes) -> bytes:
    """The JPEG with a comment segment (COM, FF FE) holding the crash marker right after SOI: still
    a valid JPEG, but the storage worker's fault injection crashes on it every time."""
    if jpeg[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    segment = b"\xff\xfe" + (len(CRASH_MARKER) + 2).to_bytes(2, "big") + CRASH_MARKER
    return jpeg[:2] + segment + jpeg[2:]


def multipart(image: bytes) -> tuple[str, bytes]:
    """The content type and body of an upload, built once per photo (httpx's multipart encoder
    would spend this VM's CPU on every attempt)."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        (
            f"--{boundary}\r\n".encode(),
            b'Content-Disposition: form-data; name="image"; filename="photo.jpg"\r\n',
            b"Content-Type: image/jpeg\r\n\r\n",
            image,
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
    return f"multipart/form-data; boundary={boundary}", body


@dataclass
class Submissions:
    """What the submitting side saw; the audit counts outcomes from the servers, not from this."""

    accepted: dict[str, bool] = field(default_factory=dict)  # scan id -> carries the marker
    unaccepted: int = 0
    rejected: list[str] = field(default_factory=list)  # answers no retry can change
    retries: int = 0
    first_at: float = 0.0


class Submitter:
    def __init__(
        self, client: httpx.AsyncClient, path: str, headers: dict[str, str], photos: list[bytes]
    ) -> None:
        self._client = client
        self._path = path
        self._headers = headers
        self._plain = [multipart(image) for image in photos]
        self._poisoned = [multipart(with_crash_marker(image)) for image in photos]
        self.result = Submissions()

    async def run(self, count: int, rate: float, poisoned: set[int]) -> Submissions:
        self.result.first_at = start = time.monotonic()
        uploads = (self._submit(i, start + i / rate, i in poisoned) for i in range(count))
        await asyncio.gather(*uploads)
        return self.result

    async def _submit(self, index: int, at: float, poisoned: bool) -> None:
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        uploads = self._poisoned if poisoned else self._plain
        content_type, body = uploads[index % len(uploads)]
        headers = self._headers | {
            "Content-Type": content_type,
            "Idempotency-Key": f"chaos-{uuid.uuid4()}",
        }
        give_up = time.monotonic() + GIVE_UP_SECONDS
        while time.monotonic() < give_up:
            wait = await self._attempt(headers, body, poisoned)
            if wait is None:
                return
            self.result.retries += 1
            await asyncio.sleep(wait)
        self.result.unaccepted += 1
        log.warning("scan %d: not accepted after %.0f s; giving up", index, GIVE_UP_SECONDS)

    async def _attempt(self, headers: dict[str, str], body: bytes, poisoned: bool) -> float | None:
        """None when done (accepted, or refused for good), else how long to wait before the next
        attempt."""
        try:
            response = await self._client.post(self._path, content=body, headers=headers)
        except httpx.TransportError:
            return 0.5  # scan-api unreachable or the answer lost: the same key makes it safe
        if response.status_code == 202:
            self.result.accepted[response.json()["scan_id"]] = poisoned
            return None
        if response.status_code == 429 or response.status_code >= 500:
            return retry_after(response)
        self.result.rejected.append(f"{response.status_code} {response.text[:200]}")
        return None


def retry_after(response: httpx.Response) -> float:
    try:
        return max(0.1, float(response.headers.get("Retry-After", "0.5")))
    except ValueError:
        return 0.5
