"""The live map provider: Kakao Local's keyword search, behind timeouts, retries and a circuit
breaker, for when our own collection points near someone are too few."""

from __future__ import annotations

import asyncio
import math
import random
import time
from typing import Any, Literal

import httpx

from bunri.locations.breaker import CircuitBreaker
from bunri.locations.kinds import Kind
from bunri.locations.points import NearbyPoint, haversine_m
from bunri.logging import get_logger
from bunri.metrics.locations import PROVIDER_CALLS, PROVIDER_SECONDS

log = get_logger(__name__)

PROVIDER = "kakao"
SEARCH_PATH = "/v2/local/search/keyword.json"
MAX_RADIUS_M = 20_000  # Kakao refuses a larger radius with a 400
MAX_PAGE_SIZE = 15
MAX_PAGE = 45
BACKOFF_SECONDS = 0.1  # doubled for each retry

Reason = Literal["timeout", "error", "rate_limited", "circuit_open"]


class ProviderUnavailable(Exception):
    """The provider gave no answer this time; the caller falls back to what it has."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


class _Transient(Exception):
    """One attempt failed in a way another attempt may not."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


class KakaoLocal:
    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://dapi.kakao.com",
        timeout_seconds: float = 1.5,
        retries: int = 2,
        breaker: CircuitBreaker | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_key = api_key
        self._url = base_url.rstrip("/") + SEARCH_PATH
        self._timeout_seconds = timeout_seconds
        self._retries = max(0, retries)
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def search(
        self, kind: Kind, lat: float, lon: float, radius_m: int, limit: int = 15
    ) -> list[NearbyPoint]:
        """Points of `kind` within `radius_m` of (lat, lon), nearest first, at most `limit`."""
        if not self.breaker.allow():
            PROVIDER_CALLS.labels(PROVIDER, "circuit_open").inc()
            raise ProviderUnavailable("circuit_open")
        started = time.perf_counter()
        try:
            points = await self._search(kind, lat, lon, radius_m, limit)
        except ProviderUnavailable as unavailable:
            self.breaker.record_failure()
            PROVIDER_CALLS.labels(PROVIDER, unavailable.reason).inc()
            raise
        finally:
            PROVIDER_SECONDS.labels(PROVIDER).observe(time.perf_counter() - started)
        self.breaker.record_success()
        PROVIDER_CALLS.labels(PROVIDER, "ok").inc()
        return points

    async def _search(
        self, kind: Kind, lat: float, lon: float, radius_m: int, limit: int
    ) -> list[NearbyPoint]:
        radius = max(0, min(radius_m, MAX_RADIUS_M))
        size = max(1, min(limit, MAX_PAGE_SIZE))
        pages = min(MAX_PAGE, math.ceil(limit / size))
        found: dict[str, NearbyPoint] = {}
        for page in range(1, pages + 1):
            params: dict[str, str | int | float] = {
                "query": kind.keyword,
                "x": lon,
                "y": lat,
                "radius": radius,
                "sort": "distance",
                "size": size,
            }
            if page > 1:
                params["page"] = page
            body = await self._get(params)
            for document in body["documents"]:
                point = _point(document, kind, lat, lon)
                if point.distance_m <= radius_m:
                    found.setdefault(point.id, point)
            if body["meta"].get("is_end", True) or len(found) >= limit:
                break
        return sorted(found.values(), key=lambda point: point.distance_m)[:limit]

    async def _get(self, params: dict[str, str | int | float]) -> dict[str, Any]:
        """One page, retried on what may pass (timeouts, connection errors, 5xx)."""
        reason: Reason = "error"
        for attempt in range(self._retries + 1):
            if attempt:
                ceiling = BACKOFF_SECONDS * 2 ** (attempt - 1)
                # Jittered, so callers that failed together do not retry together.
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))  # noqa: S311 (jitter, not secrecy)
            try:
                return await self._attempt(params)
            except _Transient as transient:
                reason = transient.reason
                log.warning(
                    "kakao search attempt failed",
                    reason=reason,
                    attempt=attempt + 1,
                    attempts=self._retries + 1,
                )
        raise ProviderUnavailable(reason)

    async def _attempt(self, params: dict[str, str | int | float]) -> dict[str, Any]:
        try:
            # httpx's read timeout is per read, so a server trickling bytes could hold an attempt
            # far longer: the attempt as a whole is bounded too.
            async with asyncio.timeout(self._timeout_seconds):
                response = await self._client.get(
                    self._url,
                    params=params,
                    headers={"Authorization": f"KakaoAK {self._api_key}"},
                    timeout=self._timeout_seconds,
                )
        except (httpx.TimeoutException, TimeoutError):
            raise _Transient("timeout") from None
        except httpx.TransportError as error:
            log.warning("kakao unreachable", error=type(error).__name__)
            raise _Transient("error") from None
        status = response.status_code
        if status == 429:
            # Over quota: a retry only spends more of it.
            log.warning("kakao rate limited", error_type=_error_type(response))
            raise ProviderUnavailable("rate_limited")
        if status >= 500:
            raise _Transient("error")
        if status != 200:
            log.error("kakao refused the request", status=status, error_type=_error_type(response))
            raise ProviderUnavailable("error")
        try:
            body = response.json()
            if not isinstance(body["documents"], list) or not isinstance(body["meta"], dict):
                raise TypeError("documents or meta of the wrong type")
        except (ValueError, KeyError, TypeError) as error:
            log.error("kakao answered an unreadable body", error=str(error))
            raise ProviderUnavailable("error") from None
        result: dict[str, Any] = body
        return result


def _point(document: dict[str, Any], kind: Kind, lat: float, lon: float) -> NearbyPoint:
    try:
        point_lat, point_lon = float(document["y"]), float(document["x"])
        distance = document.get("distance")
        return NearbyPoint(
            id=f"kakao:{document['id']}",
            source=PROVIDER,
            kind=kind.code,
            name=document["place_name"],
            address=document.get("road_address_name") or document.get("address_name") or "",
            lat=point_lat,
            lon=point_lon,
            opening_notes=None,
            # Kakao leaves distance empty when it was not given x and y.
            distance_m=float(distance) if distance else haversine_m(lat, lon, point_lat, point_lon),
        )
    except (KeyError, TypeError, ValueError) as error:
        log.error("kakao answered an unreadable place", error=str(error))
        raise ProviderUnavailable("error") from None


def _error_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("errorType") if isinstance(body, dict) else None
