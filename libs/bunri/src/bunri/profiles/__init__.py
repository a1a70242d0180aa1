"""A person's profile, as my-api serves it and the storage worker's photo task changes it."""

from bunri.profiles.cache import (
    AsyncProfileCache,
    SyncProfileCache,
    profile_cache_key,
)

__all__ = ["AsyncProfileCache", "SyncProfileCache", "profile_cache_key"]
