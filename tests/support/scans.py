"""Driving scan-api in tests: its settings from the pipeline's environment, a worker node's own
files, submitting a photo, and waiting for a scan to finish (in process or over real HTTP)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx

from scan_api.settings import ScanApiSettings


def node_files(folder: Path) -> dict[str, str]:
    """A worker node's own journal and heartbeat file."""
    return {
        "BUNRI_JOURNAL_PATH": str(folder / "journal.sqlite3"),
        "BUNRI_HEARTBEAT_PATH": str(folder / "heartbeat.json"),
    }


def scan_settings(pipeline_env: dict[str, str], **overrides: Any) -> ScanApiSettings:
    values: dict[str, Any] = {
        name.removeprefix("BUNRI_").lower(): value for name, value in pipeline_env.items()
    }
    return ScanApiSettings(
        **(values | {"log_json": False, "sse_keepalive_seconds": 1.0} | overrides)
    )


async def submit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    image: bytes,
    *,
    filename: str = "photo.jpg",
    note: str | None = None,
    **extra_headers: str,
) -> httpx.Response:
    data = {"note": note} if note is not None else None
    return await client.post(
        "/api/v1/scans",
        headers=headers | extra_headers,
        files={"image": (filename, image, "image/jpeg")},
        data=data,
    )


async def wait_until_done(
    client: httpx.AsyncClient, headers: dict[str, str], scan_id: str, seconds: float = 60
) -> dict[str, Any]:
    """Poll until the scan is terminal (the SSE tests follow events instead)."""
    deadline = time.monotonic() + seconds
    while True:
        body: dict[str, Any] = (
            await client.get(f"/api/v1/scans/{scan_id}", headers=headers)
        ).json()
        if body["status"] in ("completed", "failed") or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


async def wait_completed(
    base_url: str, headers: dict[str, str], scan_id: str, seconds: float = 90
) -> None:
    """The same over real HTTP to `base_url`, and the scan must have completed."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            body = (await client.get(f"/api/v1/scans/{scan_id}", headers=headers)).json()
            if body["status"] in ("completed", "failed"):
                assert body["status"] == "completed", body
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"scan {scan_id} did not finish in {seconds} s")
