from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config

from bunri.settings import BunriSettings

# DeleteObjects takes at most this many keys a request.
_S3_DELETE_BATCH = 1000
_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def scan_object_key(scan_id: uuid.UUID | str, variant: str, media_type: str) -> str:
    """Keys come from the scan id alone, never from anything the client named."""
    return f"scans/{scan_id}/{variant}.{_EXTENSIONS[media_type]}"


def profile_photo_prefix(user_id: uuid.UUID | str) -> str:
    return f"profiles/{user_id}/"


def profile_photo_key(user_id: uuid.UUID | str, upload: int, size_px: int) -> str:
    """A new key for every upload: a photo being replaced stays readable until the switch."""
    return f"{profile_photo_prefix(user_id)}{upload}/{size_px}.jpg"


def profile_photo_upload(key: str) -> int | None:
    """The upload number in a key of `profile_photo_key`'s making."""
    parts = key.split("/")
    return int(parts[2]) if len(parts) == 4 and parts[2].isdigit() else None


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_if_absent(self, key: str, data: bytes, content_type: str) -> bool:
        """Write the object unless the key exists; whether it was written. A retry after a put
        whose answer was lost (the object is there) writes nothing a second time."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, keys: Sequence[str]) -> None:
        """Remove these objects; a key that is not there is no error (a retry deletes again)."""
        ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def purge(self, prefixes: Sequence[str]) -> int:
        """Remove every object under these prefixes, and in a versioned bucket every earlier
        version and delete marker too: what an erasure must leave nothing of. How many went."""
        ...

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

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _S3_DELETE_BATCH):
            self._delete_batch([{"Key": key} for key in keys[start : start + _S3_DELETE_BATCH]])

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            keys.extend(item["Key"] for item in page.get("Contents", ()))
        return keys

    def purge(self, prefixes: Sequence[str]) -> int:
        # Versions of many prefixes share each DeleteObjects (1,000 a request).
        pending: list[dict[str, str]] = []
        purged = 0
        for prefix in prefixes:
            for page in self.client.get_paginator("list_object_versions").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for item in (*page.get("Versions", ()), *page.get("DeleteMarkers", ())):
                    pending.append({"Key": item["Key"], "VersionId": item["VersionId"]})
                    if len(pending) == _S3_DELETE_BATCH:
                        purged += self._delete_batch(pending)
                        pending = []
        return purged + (self._delete_batch(pending) if pending else 0)

    def _delete_batch(self, objects: list[dict[str, str]]) -> int:
        """DeleteObjects for up to 1,000 keys (with a `VersionId`: that version)."""
        answer = self.client.delete_objects(
            Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}
        )
        if answer.get("Errors"):
            first = answer["Errors"][0]
            raise OSError(f"S3 refused to delete {first.get('Key')}: {first.get('Code')}")
        return len(objects)

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

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def list_keys(self, prefix: str) -> list[str]:
        root = self.root.resolve()
        # Only the folder the prefix names is walked, not the whole store.
        folder = self._path(prefix.rpartition("/")[0]) if "/" in prefix else root
        if not folder.is_dir():
            return []
        keys = (path.relative_to(root).as_posix() for path in folder.rglob("*") if path.is_file())
        return sorted(key for key in keys if key.startswith(prefix) and not key.endswith(".part"))

    def purge(self, prefixes: Sequence[str]) -> int:
        keys = [key for prefix in prefixes for key in self.list_keys(prefix)]
        self.delete(keys)
        return len(keys)

    def download_url(self, key: str, expires_seconds: int) -> None:
        return None


def create_object_store(settings: BunriSettings) -> ObjectStore:
    if settings.s3_bucket is not None:
        return S3ObjectStore(settings)
    return LocalObjectStore(settings.state_dir / "objects")
