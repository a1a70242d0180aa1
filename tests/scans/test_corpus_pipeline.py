"""The hostile corpus of tests/data through the whole pipeline: every file is either refused at the
door with its 4xx code, or accepted and driven to its terminal state by the real workers. None
gives a 500, none leaves a scan stuck, and no worker process dies on the way."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from bunri.settings import BunriSettings
from tests.data.make_corpus import (
    MAX_BYTES,
    MAX_PIXELS,
    Accepted,
    AcceptedThenCorrupt,
    CorpusFile,
    Refused,
    corpus_files,
    make_corpus,
)
from tests.scans.helpers import assert_error
from tests.support.pictures import photo
from tests.support.scans import submit, wait_until_done

pytestmark = pytest.mark.usefixtures("pipeline")


def test_the_corpus_is_judged_by_the_limits_scan_api_enforces() -> None:
    defaults = BunriSettings()
    assert (defaults.max_image_bytes, defaults.max_image_pixels) == (MAX_BYTES, MAX_PIXELS)


async def _outcome(
    client: httpx.AsyncClient, user: dict[str, str], entry: CorpusFile, data: bytes
) -> tuple[CorpusFile, httpx.Response, dict[str, Any] | None]:
    response = await submit(client, user, data, filename=entry.name)
    if response.status_code != 202:
        return entry, response, None
    done = await wait_until_done(client, user, response.json()["scan_id"], seconds=120)
    return entry, response, done


async def test_every_corpus_file_is_refused_or_reaches_its_end(
    client: httpx.AsyncClient,
    user: dict[str, str],
    tmp_path: Path,
    storage_worker: subprocess.Popen[bytes],
    ai_worker: subprocess.Popen[bytes],
) -> None:
    make_corpus(tmp_path)
    entries = corpus_files()
    assert len(entries) >= 25
    # Eight at a time: the workers see overlapping hostile files, as they would in production.
    limit = asyncio.Semaphore(8)

    async def one(entry: CorpusFile) -> tuple[CorpusFile, httpx.Response, dict[str, Any] | None]:
        async with limit:
            return await _outcome(client, user, entry, (tmp_path / entry.name).read_bytes())

    outcomes = await asyncio.gather(*(one(entry) for entry in entries))

    for entry, response, done in outcomes:
        expect = entry.expect
        if isinstance(expect, Refused):
            assert_error(response, expect.status, expect.code)
            continue
        assert response.status_code == 202, (entry.name, response.text)
        assert done is not None
        if isinstance(expect, Accepted):
            assert done["status"] == "completed", (entry.name, done)
            assert done["result"]["guide"]["steps"], entry.name
        else:
            assert isinstance(expect, AcceptedThenCorrupt)
            assert done["status"] == "failed", (entry.name, done)
            assert done["error"]["code"] == "image_corrupt", (entry.name, done)
            assert done["error"]["message"], entry.name

    refused = sum(isinstance(entry.expect, Refused) for entry in entries)
    assert 0 < refused < len(entries)
    # The workers started for this session are still the ones serving, and still serve.
    assert storage_worker.poll() is None
    assert ai_worker.poll() is None
    after = await submit(client, user, photo())
    assert (await wait_until_done(client, user, after.json()["scan_id"]))["status"] == "completed"
