"""The recipe Bunri's accept path replaces, written the way a typical FastAPI + Celery tutorial
writes it, so that bench.accept can show what that recipe costs on the same machine and load.

`POST /api/v1/scans` takes a multipart `image` (UploadFile, which Starlette spools to a temporary
file), copies it to a folder on disk, inserts a `scans` row through a synchronous SQLAlchemy ORM
Session (`db.add`, `db.commit`, `db.refresh`), calls `process_scan.delay(scan_id, path)` on a Celery
app whose broker is Redis, and answers 202 `{scan_id, status: "queued"}`. The endpoint is a plain
`def`, so FastAPI runs it in its thread pool, as the tutorials' sync endpoints are.

Deliberately lighter than a real service, which can only make this baseline faster:
- the bearer token is not verified (any `Authorization: Bearer ...` passes; scan-api checks its
  signature, expiry and revocation) and the row names no user (no user index to update);
- nothing is checked about the upload (type, size, pixel count, per-user quotas);
- no worker consumes the tasks: only the accept path is measured, and the harness flushes the
  Redis database before and after.

It keeps the tutorials' `db.refresh(scan)`, which holds the connection until FastAPI has validated
the response on one of the same 40 threads the endpoints queue for; past what the server can do,
that starves the 15-connection pool (see bench.baselines.synchronous): every thread then waits
for a connection that a session holds until its clean-up gets a thread, and the server stops
answering. This recipe takes 110-200 uploads a second here, so 100/s reaches that only when the
machine is slow; the harness then counts the unanswered requests as failed (bench.rawhttp's
timeout).

    uvicorn bench.baselines.naive_queued:app --port 8000 --workers 1
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

from celery import Celery
from fastapi import Depends, FastAPI, UploadFile
from fastapi.security import HTTPBearer
from sqlalchemy import DateTime, String, create_engine, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bench.baselines import (
    BROKER_URL_VARIABLE,
    DATABASE_URL_VARIABLE,
    NAIVE_BROKER_URL,
    NAIVE_DATABASE_URL,
    UPLOAD_DIR_VARIABLE,
    ensure_database,
)

DATABASE_URL = os.environ.get(DATABASE_URL_VARIABLE, NAIVE_DATABASE_URL)
BROKER_URL = os.environ.get(BROKER_URL_VARIABLE, NAIVE_BROKER_URL)
UPLOAD_DIR = Path(
    os.environ.get(UPLOAD_DIR_VARIABLE, Path(tempfile.gettempdir()) / "bunri-bench-naive")
)
UPLOAD_DIR.mkdir(parents=True, exist_ok=True)

ensure_database(DATABASE_URL)
engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine, autoflush=False)


class Base(DeclarativeBase):
    pass


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    image_path: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Base.metadata.create_all(bind=engine)

celery_app = Celery("naive_queued", broker=BROKER_URL)


@celery_app.task
def process_scan(scan_id: str, path: str) -> None:
    """Where the tutorial's worker would store and classify the photo; never run here."""


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


app = FastAPI(title="naive queued baseline")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/scans", status_code=202, dependencies=[Depends(HTTPBearer())])
def create_scan(image: UploadFile, db: Annotated[Session, Depends(get_db)]) -> dict[str, str]:
    scan_id = uuid.uuid4()
    path = UPLOAD_DIR / f"{scan_id}.jpg"
    with path.open("wb") as buffer:
        shutil.copyfileobj(image.file, buffer)
    scan = Scan(id=scan_id, image_path=str(path))
    db.add(scan)
    db.commit()
    db.refresh(scan)
    process_scan.delay(str(scan.id), str(path))
    return {"scan_id": str(scan.id), "status": scan.status}
