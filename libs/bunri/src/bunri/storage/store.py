from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config

from bunri.settings import BunriSettings

_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def scan_object_key(scan_id: uuid.UUID | str, variant: str, media_type: str) -> str:
    """Keys come from the scan id alone, never from anything the client named."""
    return f"scans/{scan_id}/{variant}.{_EXTENSIONS[media_type]}"


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Write the object unless the key exists; whether it was written. A retry after a put
        whose answer was lost (the object is there) writes nothing a second time."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def download_url(self, key: str, expires_seconds: int) -> str | None:
        """A URL a client can fetch the object from directly, or None (then serve it)."""
        ...


class S3ObjectStore:
    def __init__(self, settings: BunriSettings, **client_options: Any) -> None:
        if settings.s3_bucket is None:
            raise ValueError("BUNRI_S3_BUCKET is not set")
        self.bucket = settings.s3_bucket
        credentials: dict[str, Any] = {}
        if settings.s3_access_key_id and settings.s3_secret_access_key:
            credentials = {
                "aws_access_key_id": settings.s3_access_key_id,
                "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
            }
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=settings.s3_max_connections,
                s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
            ),
            **credentials,
            **client_options,
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            # S3 conditional write: refused (412) when the key exists, atomically.
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType=content_type, IfNoneMatch="*"
            )
        except ClientError as exc:
            # 409: a concurrent conditional write to the same key won.
            if exc.response.get("Error", {}).get("Code") in (
                "PreconditionFailed",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return False
            raise
        return True

    def download_url(self, key: str, expires_seconds: int) -> str:
        # Signed locally: no request to S3.
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
        )
        return url


class LocalObjectStore:
    """Objects as files under a folder (standalone mode)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        os.replace(temporary, path)  # readers never see half an object

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        if self.exists(key):
            return False
        self.put(key, data, content_type)
        return True

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def download_url(self, key: str, expires_seconds: int) -> None:
        return None


def create_object_store(settings: BunriSettings) -> ObjectStore:
    if settings.s3_bucket is not None:
        return S3ObjectStore(settings)
    return LocalObjectStore(settings.state_dir / "objects")
