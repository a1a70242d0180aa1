"""The location domain's cache and its live provider, as `/metrics` shows them.

The hit rate is `hit / (hit + stale + miss)` of `bunri_location_cache_lookups_total`.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# hit: a fresh entry; stale: an expired entry answered because the provider failed; miss: built
# from PostgreSQL (and the provider where our points are few); shared: a miss answered by another
# request's build of the same entry (single-flight).
CACHE_LOOKUPS = Counter(
    "bunri_location_cache_lookups_total",
    "Nearby searches by how the cache answered them.",
    ["result"],
)
CACHE_INVALIDATED = Counter(
    "bunri_location_cache_invalidated_total",
    "Cache entries removed because an import changed points in their reach.",
)
# outcome: ok, timeout, error, rate_limited, circuit_open
PROVIDER_CALLS = Counter(
    "bunri_location_provider_calls_total",
    "Calls to the live map provider, by outcome.",
    ["provider", "outcome"],
)
PROVIDER_SECONDS = Histogram(
    "bunri_location_provider_seconds",
    "Time a live provider took to answer (retries included).",
    ["provider"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
)
