"""Reference servers that bench.accept measures beside scan-api, with the same client, photo and
load: what Bunri's accept path is worth only shows against what it replaces.

- `naive_queued`: the tutorial recipe (FastAPI, the upload written to disk, a row through the
  SQLAlchemy ORM, `task.delay()` on Celery with Redis as its broker), answering 202.
- `synchronous`: the request does the whole job (decode, orient, re-encode, thumbnail, classify)
  and answers 200 with the class.

Each is a plain module-level FastAPI `app` for `uvicorn bench.baselines.<name>:app`, configured
by the environment variables below (the harness sets them; the defaults let one run by hand).
This package builds no app, so the harness can read these names without starting one.
"""

from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# Where the baselines keep their rows, files and (naive) queued tasks.
DATABASE_URL_VARIABLE = "BENCH_BASELINE_DATABASE_URL"
UPLOAD_DIR_VARIABLE = "BENCH_BASELINE_UPLOAD_DIR"
BROKER_URL_VARIABLE = "BENCH_NAIVE_BROKER_URL"
MODEL_VARIABLE = "BENCH_SYNCHRONOUS_MODEL"  # unset: the AI worker's bundled model

NAIVE_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bunri_bench_naive"
SYNCHRONOUS_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bunri_bench_synchronous"
# A Redis database nothing else in the repository uses: the harness flushes it.
NAIVE_BROKER_URL = "redis://127.0.0.1:6379/9"


def ensure_database(url: str) -> None:
    """Create the database `url` names if it is missing (what a tutorial leaves to a docker-compose
    file); the tables are then the app's `create_all`."""
    target = make_url(url)
    server = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with server.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        server.dispose()
