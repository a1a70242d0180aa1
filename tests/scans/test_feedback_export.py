"""`bunri feedback export` (DESIGN.md section 3, "Feedback"): the feedback as a class-folder
dataset, each photo fetched from the object store the storage worker wrote it to (moto's S3
server here, a folder in standalone), with `taxonomy.json` in the format `bunri train
--taxonomy-map` reads and a manifest that names no person; rewritten in place when run again.
The round trip goes through the real pipeline, and ends in the AI worker's own dataset reader."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from botocore.exceptions import BotoCoreError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner, Result

from ai_worker.classifier.model_file import read_metadata
from ai_worker.training.data import discover
from ai_worker.training.efficientnet import EfficientNetLite
from ai_worker.training.pipeline import _taxonomy_for
from bunri.db.base import utcnow
from bunri.feedback import class_folder
from bunri.settings import BunriSettings
from bunri.storage import LocalObjectStore, S3ObjectStore, create_object_store
from bunri_programs.cli import add_installed_commands, app
from bunri_programs.feedback_export import (
    MANIFEST,
    TAXONOMY_MAP,
    ExportSummary,
    FeedbackRecord,
    describe,
    export_feedback,
    write_dataset,
)
from tests.scans.helpers import (
    Driver,
    classified,
    complete_as_workers_do,
    s3_client,
    s3_object,
)
from tests.support.pictures import photo
from tests.support.scans import scan_settings, submit, wait_until_done
from tests.support.servers import free_port
from tests.support.users import new_user

SCANS = "/api/v1/scans"
BIN = Path(sys.executable).parent
add_installed_commands()  # `bunri train` comes from the AI worker's package

NEWSPAPER = {"major": "재활용폐기물", "middle": "종이", "minor": "신문지"}
PAPER = {"major": "재활용폐기물", "middle": "종이"}
PET = {"major": "재활용폐기물", "middle": "무색페트병"}
PLASTIC = {"major": "재활용폐기물", "middle": "플라스틱류"}
NEWSPAPER_FOLDER = "재활용폐기물__종이__신문지"
PAPER_FOLDER = "재활용폐기물__종이"
PET_FOLDER = "재활용폐기물__무색페트병"
PLASTIC_FOLDER = "재활용폐기물__플라스틱류"
NOTE = "개인적인 메모: 우리 집 부엌"


@pytest.fixture
def driver(pipeline_env: dict[str, str]) -> Iterator[Driver]:
    driver = Driver(pipeline_env)
    yield driver
    driver.close()


class Scans:
    """Completed scans (predicted 플라스틱류) with their photos in S3, and feedback on them."""

    def __init__(
        self, idle: httpx.AsyncClient, driver: Driver, pipeline_env: dict[str, str]
    ) -> None:
        self.idle, self.driver, self.env = idle, driver, pipeline_env
        self.keys: dict[str, str] = {}

    async def completed(self, user: dict[str, str], seed: int) -> str:
        scan_id: str = (await submit(self.idle, user, photo(96, 64, seed=seed))).json()["scan_id"]
        self.keys[scan_id] = await complete_as_workers_do(
            self.driver,
            self.env,
            scan_id,
            photo(80, 60, seed=seed),
            classified("재활용폐기물", "플라스틱류", None, 0.55, unsure=True),
        )
        return scan_id

    async def feedback(
        self, user: dict[str, str], scan_id: str, correct: dict[str, str], note: str | None = NOTE
    ) -> dict[str, Any]:
        given = await self.idle.put(
            f"{SCANS}/{scan_id}/feedback", headers=user, json={"correct": correct, "note": note}
        )
        assert given.status_code in (200, 201), given.text
        body: dict[str, Any] = given.json()
        return body


@pytest.fixture
def scans(idle: httpx.AsyncClient, driver: Driver, pipeline_env: dict[str, str]) -> Scans:
    return Scans(idle, driver, pipeline_env)


async def export(
    engine: AsyncEngine, pipeline_env: dict[str, str], output: Path, **options: Any
) -> ExportSummary:
    store = create_object_store(scan_settings(pipeline_env))
    return await export_feedback(engine, store, output, **options)


def dataset_files(output: Path) -> dict[str, bytes]:
    """Every file under `output` by its relative path."""
    return {
        path.relative_to(output).as_posix(): path.read_bytes()
        for path in sorted(output.rglob("*"))
        if path.is_file()
    }


def manifest(output: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (output / MANIFEST).read_text("utf-8").splitlines()]


async def user_ids(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT DISTINCT user_id FROM scans"))
        return [str(row[0]) for row in rows]


async def test_the_export_writes_a_class_folder_dataset_from_storage(
    scans: Scans,
    user: dict[str, str],
    auth_url: str,
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    tmp_path: Path,
) -> None:
    other = await new_user(auth_url)
    newspaper = [await scans.completed(user, seed) for seed in (1, 2)]
    pet = await scans.completed(other, 3)  # everyone's feedback is exported
    plastic = await scans.completed(user, 4)  # the model was right
    gone = await scans.completed(user, 5)
    no_feedback = await scans.completed(user, 6)
    for scan_id in newspaper:
        await scans.feedback(user, scan_id, NEWSPAPER)
    await scans.feedback(other, pet, PET)
    await scans.feedback(user, plastic, PLASTIC, note=None)
    await scans.feedback(user, gone, PET)
    s3_client(pipeline_env).delete_object(
        Bucket=pipeline_env["BUNRI_S3_BUCKET"], Key=scans.keys[gone]
    )

    output = tmp_path / "feedback"
    before = utcnow()
    summary = await export(clean_database, pipeline_env, output)

    assert summary.images_per_class == {NEWSPAPER_FOLDER: 2, PET_FOLDER: 1, PLASTIC_FOLDER: 1}
    assert [skipped.scan_id for skipped in summary.skipped] == [uuid.UUID(gone)]
    assert scans.keys[gone] in summary.skipped[0].reason
    assert "not in storage" in summary.skipped[0].reason
    assert summary.removed == 0

    files = dataset_files(output)
    images = {name: data for name, data in files.items() if name.endswith(".jpg")}
    expected = {
        f"{NEWSPAPER_FOLDER}/{newspaper[0]}.jpg": newspaper[0],
        f"{NEWSPAPER_FOLDER}/{newspaper[1]}.jpg": newspaper[1],
        f"{PET_FOLDER}/{pet}.jpg": pet,
        f"{PLASTIC_FOLDER}/{plastic}.jpg": plastic,
    }
    assert set(images) == set(expected)
    for name, scan_id in expected.items():
        # The stored original, byte for byte.
        assert images[name] == s3_object(pipeline_env, scans.keys[scan_id])
    assert set(files) == set(images) | {TAXONOMY_MAP, MANIFEST}
    assert no_feedback not in json.dumps(list(files))

    assert json.loads(files[TAXONOMY_MAP]) == {
        NEWSPAPER_FOLDER: "재활용폐기물/종이/신문지",
        PET_FOLDER: "재활용폐기물/무색페트병",
        PLASTIC_FOLDER: "재활용폐기물/플라스틱류",
    }
    lines = manifest(output)
    assert [line["file"] for line in lines] == sorted(expected)
    by_scan = {line["scan_id"]: line for line in lines}
    assert set(by_scan) == set(expected.values())
    for line in lines:
        assert set(line) == {
            "scan_id",
            "file",
            "folder",
            "class",
            "predicted",
            "predicted_confidence",
            "agrees",
            "exported_at",
        }
        assert line["predicted"] == "재활용폐기물/플라스틱류"
        assert line["predicted_confidence"] == 0.55
        assert line["folder"] == line["file"].split("/")[0]
        assert before <= datetime.fromisoformat(line["exported_at"]) <= utcnow()
    assert by_scan[plastic]["agrees"] is True
    assert by_scan[pet]["agrees"] is False
    assert by_scan[newspaper[0]]["class"] == "재활용폐기물/종이/신문지"

    # Nothing names a person: no user id, no note, anywhere in the dataset's text.
    written = (files[MANIFEST] + files[TAXONOMY_MAP]).decode()
    for user_id in await user_ids(clean_database):
        assert user_id not in written
    assert NOTE not in written

    # What `bunri train --data DIR --taxonomy-map DIR/taxonomy.json` reads it with.
    dataset = discover(output)
    assert dataset.classes == tuple(sorted(summary.images_per_class))
    assert len(dataset.samples) == 4
    assert _taxonomy_for(dataset, output / TAXONOMY_MAP) == json.loads(files[TAXONOMY_MAP])

    text_out = "\n".join(describe(summary))
    assert "exported 4 images in 3 classes" in text_out
    assert f"{NEWSPAPER_FOLDER}  2" in text_out
    assert f"skipped 1:\n  {gone}: " in text_out


async def test_the_export_again_rewrites_the_folder_to_the_selection(
    scans: Scans,
    user: dict[str, str],
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    tmp_path: Path,
) -> None:
    first, second, third = [await scans.completed(user, seed) for seed in (11, 12, 13)]
    await scans.feedback(user, first, PET)
    await scans.feedback(user, second, PLASTIC)  # agrees with the model
    await scans.feedback(user, third, NEWSPAPER)
    output = tmp_path / "dataset"
    (output / "splits").mkdir(parents=True)  # somebody else's file in the folder is left alone
    (output / "splits" / "README").write_text("mine")

    await export(clean_database, pipeline_env, output)
    once = dataset_files(output)
    again = await export(clean_database, pipeline_env, output)
    twice = dataset_files(output)
    assert again.removed == 0
    assert set(twice) == set(once)
    for name in once:
        if name != MANIFEST:
            assert twice[name] == once[name], name
    assert [
        {key: value for key, value in line.items() if key != "exported_at"}
        for line in manifest(output)
    ] == [
        {key: value for key, value in json.loads(line).items() if key != "exported_at"}
        for line in once[MANIFEST].decode().splitlines()
    ]

    # The owner corrects the correction: the photo moves, and its former folder goes.
    await scans.feedback(user, third, PAPER)
    moved = await export(clean_database, pipeline_env, output)
    assert moved.removed == 1
    assert moved.images_per_class == {PAPER_FOLDER: 1, PET_FOLDER: 1, PLASTIC_FOLDER: 1}
    assert not (output / NEWSPAPER_FOLDER).exists()
    assert (output / PAPER_FOLDER / f"{third}.jpg").read_bytes() == s3_object(
        pipeline_env, scans.keys[third]
    )
    assert NEWSPAPER_FOLDER not in json.loads((output / TAXONOMY_MAP).read_text("utf-8"))

    # Only where the model was wrong.
    disagreeing = await export(clean_database, pipeline_env, output, only_disagreeing=True)
    assert disagreeing.images_per_class == {PAPER_FOLDER: 1, PET_FOLDER: 1}
    assert disagreeing.removed == 1
    assert not (output / PLASTIC_FOLDER).exists()

    # Only what was given or changed since a moment: the later correction of `first`.
    moment = utcnow()
    await scans.feedback(user, first, NEWSPAPER)
    recent = await export(clean_database, pipeline_env, output, since=moment)
    assert recent.images_per_class == {NEWSPAPER_FOLDER: 1}
    assert set(dataset_files(output)) == {
        f"{NEWSPAPER_FOLDER}/{first}.jpg",
        TAXONOMY_MAP,
        MANIFEST,
        "splits/README",
    }
    later = await export(clean_database, pipeline_env, output, since=moment + timedelta(minutes=1))
    assert later.images == 0
    assert json.loads((output / TAXONOMY_MAP).read_text("utf-8")) == {}
    assert (output / "splits" / "README").read_text() == "mine"


async def test_the_command_exports_with_the_platforms_settings(
    scans: Scans,
    user: dict[str, str],
    pipeline_env: dict[str, str],
    tmp_path: Path,
) -> None:
    scan_id = await scans.completed(user, 21)
    await scans.feedback(user, scan_id, PET)
    output = tmp_path / "out"
    env = {**os.environ, **pipeline_env, "BUNRI_LOG_JSON": "false"}

    def bunri(*arguments: str, **overrides: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "bunri"), "feedback", "export", *arguments],
            env=env | overrides,
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = await asyncio.to_thread(
        bunri, "--output", str(output), "--since", "2000-01-01", "--only-disagreeing"
    )
    assert done.returncode == 0, done.stderr
    assert f"exported 1 images in 1 classes to {output}" in done.stdout
    assert f"{PET_FOLDER}  1" in done.stdout
    assert "`bunri train` needs at least two classes" in done.stdout
    assert (output / PET_FOLDER / f"{scan_id}.jpg").read_bytes() == s3_object(
        pipeline_env, scans.keys[scan_id]
    )

    refused = await asyncio.to_thread(
        bunri, "--output", str(tmp_path / "other"), "--since", "last tuesday"
    )
    assert refused.returncode == 2
    assert "not an ISO date" in refused.stderr
    assert not (tmp_path / "other").exists()
    unreachable = await asyncio.to_thread(
        bunri,
        "--output",
        str(tmp_path / "none"),
        BUNRI_DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/none",
    )
    assert unreachable.returncode == 1
    assert "export failed" in unreachable.stderr
    assert "Traceback" not in unreachable.stderr


def test_the_export_reads_standalones_folder_store_and_skips_what_it_cannot_use(
    tmp_path: Path,
) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    here, missing, renamed = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    store.put(f"scans/{here}/original.png", b"\x89PNG photo", "image/png")

    def record(scan_id: uuid.UUID, middle: str, minor: str | None) -> FeedbackRecord:
        return FeedbackRecord(
            scan_id=scan_id,
            major="재활용폐기물",
            middle=middle,
            minor=minor,
            image_key=f"scans/{scan_id}/original.png",
            predicted_major=None,
            predicted_middle=None,
            predicted_minor=None,
            predicted_confidence=None,
        )

    output = tmp_path / "out"
    summary = write_dataset(
        [
            record(here, "종이", "책·노트"),
            record(missing, "종이", None),
            record(renamed, "옛날종이", None),  # a class an earlier taxonomy had
        ],
        store,
        output,
        exported_at=utcnow(),
    )
    folder = "재활용폐기물__종이__책·노트"
    assert summary.images_per_class == {folder: 1}
    assert (output / folder / f"{here}.png").read_bytes() == b"\x89PNG photo"
    reasons = {skipped.scan_id: skipped.reason for skipped in summary.skipped}
    assert set(reasons) == {missing, renamed}
    assert "not in storage" in reasons[missing]
    assert "no longer in the taxonomy" in reasons[renamed]
    assert json.loads((output / TAXONOMY_MAP).read_text("utf-8")) == {
        folder: "재활용폐기물/종이/책·노트"
    }
    (line,) = manifest(output)
    assert line["predicted"] is None
    assert line["agrees"] is False

    # Storage that cannot be reached at all stops the export, and the folder stays as it was.
    before = dataset_files(output)
    unreachable = S3ObjectStore(
        BunriSettings(
            s3_bucket="nowhere",
            s3_endpoint_url=f"http://127.0.0.1:{free_port()}",
            s3_access_key_id="test",
            s3_secret_access_key="test",
        )
    )
    with pytest.raises(BotoCoreError):
        write_dataset([record(here, "종이", None)], unreachable, output, exported_at=utcnow())
    assert dataset_files(output) == before
    assert {path.name for path in output.iterdir()} == {folder, MANIFEST, TAXONOMY_MAP}


def test_class_folders_are_safe_and_never_shared() -> None:
    assert class_folder("재활용폐기물", "종이", None) == "재활용폐기물__종이"
    assert class_folder("재활용폐기물", "종이", "신문지") == "재활용폐기물__종이__신문지"
    names = [
        ("a/b", "c", None),
        ("a", "b/c", None),
        ("a_", "_b", None),
        ("a", "_", "b"),
        ("..", "x", None),
        ("a b", "c%2F", None),
        ("a b", "c/", None),
    ]
    folders = [class_folder(*name) for name in names]
    assert len(set(folders)) == len(folders)
    for folder in folders:
        assert "/" not in folder
        assert "\\" not in folder
        assert " " not in folder
        assert not folder.startswith(".")


@pytest.mark.usefixtures("pipeline")
async def test_a_scan_its_feedback_and_the_export_make_a_training_set(
    client: httpx.AsyncClient,
    user: dict[str, str],
    pipeline_env: dict[str, str],
    clean_database: AsyncEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the real workers: photos stored by the storage worker, answered by the AI
    worker's model, corrected by their owner, exported, and trained on by `bunri train`."""
    # torch's optimiser sets its compiler's cache folder in the environment the first time.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "torchinductor"))
    corrections = [NEWSPAPER] * 4 + [PET] * 4  # enough for a train, validation and test photo
    scan_ids = [
        (await submit(client, user, photo(seed=40 + index))).json()["scan_id"]
        for index in range(len(corrections))
    ]
    for scan_id, correct in zip(scan_ids, corrections, strict=True):
        done = await wait_until_done(client, user, scan_id)
        assert done["status"] == "completed", done["error"]
        given = await client.post(
            f"{SCANS}/{scan_id}/feedback", headers=user, json={"correct": correct}
        )
        assert given.status_code == 201, given.text
        predicted = done["result"]["classification"]
        assert given.json()["predicted"] == {
            name: predicted[name] for name in ("major", "middle", "minor", "confidence", "unsure")
        }
        assert given.json()["agrees"] is (predicted["middle"] == correct["middle"])

    output = tmp_path / "learned"
    summary = await export(clean_database, pipeline_env, output)
    assert summary.skipped == []
    assert summary.images_per_class == {NEWSPAPER_FOLDER: 4, PET_FOLDER: 4}

    dataset = discover(output)
    assert dataset.classes == (PET_FOLDER, NEWSPAPER_FOLDER)  # sorted: 무 before 종
    assert _taxonomy_for(dataset, output / TAXONOMY_MAP) == {
        PET_FOLDER: "재활용폐기물/무색페트병",
        NEWSPAPER_FOLDER: "재활용폐기물/종이/신문지",
    }
    for sample in dataset.samples:
        scan_id = sample.path.stem
        assert sample.path.read_bytes() == s3_object(pipeline_env, f"scans/{scan_id}/original.jpg")
        assert dataset.classes[sample.label] == sample.path.parent.name

    model = tmp_path / "learned.safetensors"
    trained = train_briefly(output, model)
    assert trained.exit_code == 0, trained.output
    assert read_metadata(model).taxonomy == {
        PET_FOLDER: "재활용폐기물/무색페트병",
        NEWSPAPER_FOLDER: "재활용폐기물/종이/신문지",
    }


def train_briefly(data: Path, model: Path) -> Result:
    """`bunri train` on the export, one short epoch on a backbone of the test's own making (a
    random one: what is tested is that the export trains, not how well)."""
    backbone = data.parent / "backbone.pth"
    torch.save(EfficientNetLite("efficientnet-lite0").state_dict(), backbone)
    arguments = ["train", "--data", str(data), "--taxonomy-map", str(data / TAXONOMY_MAP)]
    arguments += ["--backbone-weights", str(backbone), "--no-studio", "--output", str(model)]
    arguments += ["--epochs", "1", "--image-size", "32", "--batch-size", "2"]
    return CliRunner().invoke(app, arguments)
