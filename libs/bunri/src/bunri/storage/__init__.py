"""Object storage for scan images: S3 in production (boto3), a local folder in standalone mode."""

from bunri.storage.store import (
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    create_object_store,
    scan_object_key,
)

__all__ = [
    "LocalObjectStore",
    "ObjectStore",
    "S3ObjectStore",
    "create_object_store",
    "scan_object_key",
]
