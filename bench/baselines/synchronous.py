"""The "before" path: the request waits for the whole job, so its latency is the job's and the
server takes as many scans per second as it can classify.

`POST /api/v1/scans` takes a multipart `image` (UploadFile), decodes it with Pillow, applies the
EXIF orientation, re-encodes it (JPEG quality 90, as Bunri stores originals) and makes a 320 px
thumbnail (quality 85, as Bunri's), writes both to a folder on disk (a stand-in for S3: a local
write costs far less than a PUT to object storage), classifies the photo with the AI worker's
shipped model (`LocalClassifier` on `BUNDLED_MODEL`, loaded once at import), inserts a `scans`
row with the result through a synchronous SQLAlchemy ORM Session, and answers 200 with the class.
Same style as `naive_queued`: a plain `def` endpoint in FastAPI's thread pool, one uvicorn worker.

Lighter than a real service, which can only make this baseline faster: the bearer token is not
verified (any `Authorization: Bearer ...` passes), the row names no user, and nothing is checked
about the upload beyond Pillow being able to decode it.

One departure from the tutorials, so that overload measures the design and not a trap: no
`db.refresh(scan)` after the commit. With it, the session holds its connection until FastAPI has
validated the response, which for a sync endpoint runs on one of AnyIO's 40 threads, queued behind
every waiting request; at 100/s (about three times what this server does) the 15 connections of
SQLAlchemy's default pool sat held by finished requests and the others failed after its 30 s
timeout: 387 of 500 failed, median 92 s. Without it the connection goes back at the commit, and
every request is answered as fast as the CPU allows.

    uvicorn bench.baselines.synchronous:app --port 8000 --workers 1
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, UploadFile
from fastapi.security import HTTPBearer
from PIL import Image, ImageOps
from sqlalchemy import DateTime, Float, String, create_engine, func
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ai_worker.classifier.local import LocalClassifier
from ai_worker.models import BUNDLED_MODEL
from bench.baselines import (
    DATABASE_URL_VARIABLE,
    MODEL_VARIABLE,
    SYNCHRONOUS_DATABASE_URL,
    UPLOAD_DIR_VARIABLE,
    ensure_database,
)

DATABASE_URL = os.environ.get(DATABASE_URL_VARIABLE, SYNCHRONOUS_DATABASE_URL)
UPLOAD_DIR = Path(
    os.environ.get(UPLOAD_DIR_VARIABLE, Path(tempfile.gettempdir()) / "bunri-bench-synchronous")
)
UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
ORIGINAL_QUALITY, THUMBNAIL_QUALITY, THUMBNAIL_PX = 90, 85, 320

ensure_database(DATABASE_URL)
engine = create_engine(DATABASE_URL)
SessionLocal = sessionmaker(bind=engine, autoflush=False)
classifier = LocalClassifier(Path(os.environ.get(MODEL_VARIABLE, BUNDLED_MODEL)))


class Base(DeclarativeBase):
    pass


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    image_path: Mapped[str] = mapped_column(String(500))
    thumbnail_path: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(200))  # "major/middle[/minor]" of the taxonomy
    confidence: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="done")  # done when the row exists
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


Base.metadata.create_all(bind=engine)


def get_db() -> Iterator[Session]:
    db = SessionLocal()
    try:
        yield db
    finally:
        db.close()


app = FastAPI(title="synchronous baseline")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/api/v1/scans", dependencies=[Depends(HTTPBearer())])
def create_scan(
    image: UploadFile, db: Annotated[Session, Depends(get_db)]
) -> dict[str, str | float]:
    scan_id = uuid.uuid4()
    photo = ImageOps.exif_transpose(Image.open(image.file)).convert("RGB")
    image_path = UPLOAD_DIR / f"{scan_id}.jpg"
    photo.save(image_path, "JPEG", quality=ORIGINAL_QUALITY)
    thumbnail = photo.copy()
    thumbnail.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    thumbnail_path = UPLOAD_DIR / f"{scan_id}.thumb.jpg"
    thumbnail.save(thumbnail_path, "JPEG", quality=THUMBNAIL_QUALITY)

    scores = classifier.classify([photo])[0]
    (major, middle, minor), confidence = max(scores.items(), key=lambda item: item[1])
    category = "/".join(part for part in (major, middle, minor) if part)

    scan = Scan(
        id=scan_id,
        image_path=str(image_path),
        thumbnail_path=str(thumbnail_path),
        category=category,
        confidence=confidence,
    )
    db.add(scan)
    db.commit()  # the connection goes back to the pool here: no refresh (see above)
    return {
        "scan_id": str(scan_id),
        "status": "done",
        "category": category,
        "confidence": confidence,
    }
