"""`bunri feedback export`: the feedback users gave, as a class-folder dataset for `bunri train`.

    DIR/
      재활용폐기물__종이/<scan id>.jpg          one folder per class that has feedback, holding
      재활용폐기물__종이__신문지/<scan id>.jpg   the scans' stored originals (as the storage worker
      ...                                       wrote them: upright, without metadata)
      taxonomy.json    {folder: "major/middle[/minor]"}: `bunri train --taxonomy-map`'s format
      manifest.jsonl   one line per image: scan id, file, class, the model's answer, exported_at

Nothing about the people is exported: no user id, no note. The folder is the dataset of this
selection, rewritten in place: running the export again writes the same files, and removes the
files an earlier export wrote that are no longer selected (feedback changed to another class, a
scan or account deleted, an image gone from storage). A photo missing from storage is skipped and
reported; storage that cannot be reached at all stops the export and leaves the folder as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.base import utcnow
from bunri.db.engine import create_engine
from bunri.db.models import ScanFeedback
from bunri.feedback.classes import check_class, class_folder, class_path
from bunri.guides import Taxonomy, UnknownClass, load_taxonomy
from bunri.settings import BunriSettings
from bunri.storage import ObjectStore, create_object_store

TAXONOMY_MAP = "taxonomy.json"
MANIFEST = "manifest.jsonl"
STAGING = ".export-staging"
# The suffixes `bunri train` reads; an original is stored as JPEG or PNG.
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
FETCH_THREADS = 8


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """What the export reads of one feedback row (nothing that names the person)."""

    scan_id: uuid.UUID
    major: str
    middle: str
    minor: str | None
    image_key: str | None
    predicted_major: str | None
    predicted_middle: str | None
    predicted_minor: str | None
    predicted_confidence: float | None

    @property
    def agrees(self) -> bool:
        return self.middle == self.predicted_middle

    @property
    def predicted(self) -> str | None:
        if self.predicted_major is None or self.predicted_middle is None:
            return None
        return class_path(self.predicted_major, self.predicted_middle, self.predicted_minor)


@dataclass(frozen=True, slots=True)
class Skipped:
    scan_id: uuid.UUID
    reason: str


@dataclass(slots=True)
class ExportSummary:
    output: Path
    images_per_class: dict[str, int] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    # Files of an earlier export into the same folder that this selection no longer holds.
    removed: int = 0

    @property
    def images(self) -> int:
        return sum(self.images_per_class.values())


async def read_feedback(
    engine: AsyncEngine, *, since: datetime | None = None, only_disagreeing: bool = False
) -> list[FeedbackRecord]:
    """The feedback given or changed since `since` (all of it by default), in scan order;
    with `only_disagreeing`, only where the model had the middle class wrong."""
    query = select(
        ScanFeedback.scan_id,
        ScanFeedback.correct_major,
        ScanFeedback.correct_middle,
        ScanFeedback.correct_minor,
        ScanFeedback.image_key,
        ScanFeedback.predicted_major,
        ScanFeedback.predicted_middle,
        ScanFeedback.predicted_minor,
        ScanFeedback.predicted_confidence,
    ).order_by(ScanFeedback.scan_id)
    if since is not None:
        query = query.where(ScanFeedback.updated_at >= since)
    if only_disagreeing:
        query = query.where(
            or_(
                ScanFeedback.predicted_middle.is_(None),
                ScanFeedback.correct_middle != ScanFeedback.predicted_middle,
            )
        )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [FeedbackRecord(*row) for row in rows]


async def export_feedback(
    engine: AsyncEngine,
    store: ObjectStore,
    output: Path,
    *,
    since: datetime | None = None,
    only_disagreeing: bool = False,
    exported_at: datetime | None = None,
) -> ExportSummary:
    records = await read_feedback(engine, since=since, only_disagreeing=only_disagreeing)
    return await asyncio.to_thread(
        write_dataset, records, store, output, exported_at=exported_at or utcnow()
    )


def write_dataset(
    records: Iterable[FeedbackRecord],
    store: ObjectStore,
    output: Path,
    *,
    exported_at: datetime,
    taxonomy: Taxonomy | None = None,
) -> ExportSummary:
    """Fetch each record's photo from `store` into its class folder under `output`, then write
    `taxonomy.json` and `manifest.jsonl` and remove what an earlier export left that this one
    does not hold."""
    taxonomy = taxonomy or load_taxonomy()
    summary = ExportSummary(output)
    wanted: list[FeedbackRecord] = []
    for record in records:
        reason = _unusable(record, taxonomy)
        if reason is None:
            wanted.append(record)
        else:
            summary.skipped.append(Skipped(record.scan_id, reason))
    output.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_files(output)
    # Photos are fetched into a staging folder and moved into place only once every fetch has
    # answered: storage that cannot be reached stops the export with an earlier one intact.
    # (`bunri train` reads class folders one level down, so a staging folder that a killed export
    # left holds no images it would read; the next export clears it.)
    staging = output / STAGING
    shutil.rmtree(staging, ignore_errors=True)
    written: list[tuple[FeedbackRecord, str]] = []
    try:
        with ThreadPoolExecutor(FETCH_THREADS) as pool:
            fetched = list(pool.map(lambda record: _stage(store, staging, record), wanted))
        for record, (name, missing) in zip(wanted, fetched, strict=True):
            if name is None:
                summary.skipped.append(Skipped(record.scan_id, missing))
                continue
            (output / name).parent.mkdir(exist_ok=True)
            os.replace(staging / name, output / name)
            written.append((record, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    summary.skipped.sort(key=lambda skipped: skipped.scan_id)

    folders = Counter(PurePosixPath(name).parent.name for _, name in written)
    summary.images_per_class = dict(sorted(folders.items()))
    labels = {
        class_folder(record.major, record.middle, record.minor): class_path(
            record.major, record.middle, record.minor
        )
        for record, _ in written
    }
    _write_atomically(
        output / TAXONOMY_MAP,
        (json.dumps(dict(sorted(labels.items())), ensure_ascii=False, indent=2) + "\n").encode(),
    )
    stamp = exported_at.isoformat()
    _write_atomically(
        output / MANIFEST,
        "".join(
            json.dumps(_manifest_line(record, name, stamp), ensure_ascii=False) + "\n"
            for record, name in sorted(written, key=lambda item: item[1])
        ).encode(),
    )
    summary.removed = _remove_stale(output, earlier - {name for _, name in written})
    return summary


def _unusable(record: FeedbackRecord, taxonomy: Taxonomy) -> str | None:
    if record.image_key is None:
        return "the scan has no stored image"
    try:
        check_class(taxonomy, record.major, record.middle, record.minor)
    except UnknownClass as exc:
        # Given against an earlier taxonomy: `bunri train` would refuse the whole map.
        return f"its class is no longer in the taxonomy ({exc})"
    return None


def _stage(store: ObjectStore, staging: Path, record: FeedbackRecord) -> tuple[str | None, str]:
    """Fetch the record's photo into `staging`: its file name there (and later in the dataset),
    or None and why not. A missing object is skipped; any other failure (the storage
    unreachable, refused credentials) is raised."""
    key = record.image_key
    assert key is not None
    try:
        data = store.get(key)
    except (FileNotFoundError, ValueError):
        return None, f"its image {key} is not in storage"
    except Exception as exc:
        if _is_missing_object(exc):
            return None, f"its image {key} is not in storage"
        raise
    name = _file_name(record)
    _write_atomically(staging / name, data)
    return name, ""


def _is_missing_object(exc: Exception) -> bool:
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    return response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound")


def _file_name(record: FeedbackRecord) -> str:
    """`<class folder>/<scan id><suffix of the stored original>`."""
    assert record.image_key is not None
    suffix = PurePosixPath(record.image_key).suffix.lower()
    if suffix not in _IMAGE_SUFFIXES:
        suffix = ".jpg"
    folder = class_folder(record.major, record.middle, record.minor)
    return f"{folder}/{record.scan_id}{suffix}"


def _manifest_line(record: FeedbackRecord, name: str, exported_at: str) -> dict[str, Any]:
    return {
        "scan_id": str(record.scan_id),
        "file": name,
        "folder": PurePosixPath(name).parent.name,
        "class": class_path(record.major, record.middle, record.minor),
        "predicted": record.predicted,
        "predicted_confidence": record.predicted_confidence,
        "agrees": record.agrees,
        "exported_at": exported_at,
    }


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.part")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _earlier_files(output: Path) -> set[str]:
    """The image files the manifest of an earlier export into `output` lists."""
    manifest = output / MANIFEST
    if not manifest.is_file():
        return set()
    names = set()
    for line in _lines(manifest):
        try:
            name = json.loads(line)["file"]
        except (ValueError, KeyError, TypeError):
            continue
        if isinstance(name, str) and _is_export_file(name):
            names.add(name)
    return names


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        yield from (line for line in lines if line.strip())


def _is_export_file(name: str) -> bool:
    """`<folder>/<uuid><suffix>` and nothing else: a manifest edited by hand cannot make the
    export remove a file of its choosing."""
    path = PurePosixPath(name)
    if (
        len(path.parts) != 2
        or path.parts[0] in ("", ".", "..")
        or path.suffix not in _IMAGE_SUFFIXES
    ):
        return False
    try:
        uuid.UUID(path.stem)
    except ValueError:
        return False
    return True


def _remove_stale(output: Path, names: set[str]) -> int:
    removed = 0
    for name in sorted(names):
        path = output / name
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when the class has nothing left
    return removed


def run_export(
    output: Path,
    *,
    since: datetime | None = None,
    only_disagreeing: bool = False,
    settings: BunriSettings | None = None,
) -> ExportSummary:
    """The export against the configured database and object store (`BUNRI_DATABASE_URL`,
    `BUNRI_S3_*`, or standalone's folder under `BUNRI_STATE_DIR`)."""
    settings = settings or BunriSettings()
    store = create_object_store(settings)

    async def run() -> ExportSummary:
        engine = create_engine(settings)
        try:
            return await export_feedback(
                engine, store, output, since=since, only_disagreeing=only_disagreeing
            )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def parse_since(text: str) -> datetime:
    """`--since`: an ISO date (`2026-12-01`) or time; without a zone, UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO date or time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def describe(summary: ExportSummary) -> list[str]:
    """What the command prints: images per class, then what was skipped and why."""
    lines = [
        f"exported {summary.images} images in {len(summary.images_per_class)} classes "
        f"to {summary.output}"
    ]
    width = max((len(folder) for folder in summary.images_per_class), default=0)
    lines += [
        f"  {folder.ljust(width)}  {count}" for folder, count in summary.images_per_class.items()
    ]
    if summary.removed:
        lines.append(
            f"removed {summary.removed} files an earlier export left that are not selected"
        )
    if summary.skipped:
        lines.append(f"skipped {len(summary.skipped)}:")
        lines += [f"  {skipped.scan_id}: {skipped.reason}" for skipped in summary.skipped]
    if len(summary.images_per_class) < 2:
        lines.append("note: `bunri train` needs at least two classes with images")
    return lines
