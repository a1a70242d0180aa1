"""Object storage for scan images and profile photos: S3 in production (boto3), a local folder
in standalone mode."""

from bunri.storage.store import (
    LocalObjectStore,
    ObjectStore,
    S3ObjectStore,
    create_object_store,
    profile_photo_key,
    profile_photo_prefix,
    profile_photo_upload,
    scan_object_key,
)

__all__ = [
    "LocalObjectStore",
    "ObjectStore",
    "S3ObjectStore",
    "create_object_store",
    "profile_photo_key",
    "profile_photo_prefix",
    "profile_photo_upload",
    "scan_object_key",
]
