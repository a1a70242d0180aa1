"""A fake of Kakao Local's place search (keyword and category) that tests and the benchmark serve
on loopback.

It answers in Kakao's own shape and checks what Kakao checks (the `KakaoAK` key, the parameters'
ranges). Its places are made up, the same ones for the same query near the same spot, and
`distance` is measured from the query point. Tests steer it at run time: slow or hung answers,
500s, 429s, and they read how many searches reached it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from bunri.locations.points import EARTH_RADIUS_M, haversine_m
from tests.support.servers import serve_in_thread

DEFAULT_KEY = "test-kakao-key"
MAX_RADIUS_M = 20_000
MAX_SIZE = 15
MAX_PAGE = 45
MAX_PAGEABLE = 45  # Kakao shows at most 45 places of a search, however many it found
# Where a search without x and y is centred (Seoul City Hall).
DEFAULT_CENTRE = (37.5663, 126.9779)
CATEGORIES = {"MT1": "대형마트", "CS2": "편의점", "PO3": "공공기관", "PK6": "주차장"}


@dataclass
class FakeKakao:
    """The fake's controls, read on every request; set them from a test while it runs."""

    api_key: str = DEFAULT_KEY
    places: int = 6  # how many places each search finds near its point
    outside_radius: int = 0  # places beyond the radius answered anyway, as a sloppy upstream
    delay_seconds: float = 0.0
    delay_range: tuple[float, float] | None = None  # a random delay in this range, if set
    fail_next: int = 0  # answer 500 to this many more searches
    rate_limited: bool = False
    hang: bool = False  # never answer (until the fake stops), searches that came while set
    calls: int = 0  # searches received, whatever they were answered
    requests: list[dict[str, str]] = field(default_factory=list)  # each search's parameters
    url: str = ""
    loop: asyncio.AbstractEventLoop | None = None  # the server's, in its thread
    stopped: asyncio.Event | None = None

    def reset(self) -> None:
        self.delay_seconds, self.delay_range = 0.0, None
        self.fail_next, self.rate_limited, self.hang = 0, False, False
        self.calls = 0
        self.requests.clear()


@contextmanager
def fake_kakao(**controls: Any) -> Iterator[FakeKakao]:
    """Serve a fake Kakao Local on a free loopback port; `controls` set `FakeKakao`'s fields."""
    fake = FakeKakao(**controls)
    with serve_in_thread(fake_kakao_app(fake)) as url:
        fake.url = url
        try:
            yield fake
        finally:
            # Hung and slow answers end now, or the server would wait on them to stop.
            assert fake.loop is not None
            assert fake.stopped is not None
            fake.loop.call_soon_threadsafe(fake.stopped.set)


def kakao_error(status: int, error_type: str, message: str) -> JSONResponse:
    return JSONResponse({"errorType": error_type, "message": message}, status_code=status)


class InvalidArgument(Exception):
    pass


def fake_kakao_app(fake: FakeKakao) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        fake.loop, fake.stopped = asyncio.get_running_loop(), asyncio.Event()
        yield

    app = FastAPI(lifespan=lifespan)

    async def pause(seconds: float | None) -> None:
        """Wait `seconds` (None: for ever), or until the fake stops."""
        assert fake.stopped is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.stopped.wait(), seconds)

    async def answer(request: Request, *, category_search: bool) -> JSONResponse:
        fake.calls += 1
        params = dict(request.query_params)
        fake.requests.append(params)
        if fake.hang:
            await pause(None)
        if fake.delay_range is not None:
            await pause(random.uniform(*fake.delay_range))
        elif fake.delay_seconds:
            await pause(fake.delay_seconds)
        if fake.rate_limited:
            return kakao_error(429, "RequestThrottled", "API limit has been exceeded.")
        if fake.fail_next > 0:
            fake.fail_next -= 1
            return kakao_error(500, "InternalServerError", "internal server error")
        authorization = request.headers.get("authorization", "")
        scheme, _, key = authorization.partition(" ")
        if scheme != "KakaoAK" or key != fake.api_key:
            return kakao_error(401, "AccessDeniedError", "cannot find appkey")
        try:
            search = Search.parse(params, category_search=category_search)
        except InvalidArgument as invalid:
            return kakao_error(400, "InvalidArgument", str(invalid))
        return JSONResponse(search.answer(fake.places, fake.outside_radius))

    @app.get("/v2/local/search/keyword.json")
    async def keyword(request: Request) -> JSONResponse:
        return await answer(request, category_search=False)

    @app.get("/v2/local/search/category.json")
    async def category(request: Request) -> JSONResponse:
        return await answer(request, category_search=True)

    return app


@dataclass(frozen=True)
class Search:
    query: str | None
    category: str | None
    lat: float | None
    lon: float | None
    radius: int | None
    page: int
    size: int
    sort: str

    @classmethod
    def parse(cls, params: dict[str, str], *, category_search: bool) -> Search:
        query = params.get("query") or None
        category = params.get("category_group_code") or None
        if category_search:
            if category is None:
                raise InvalidArgument("category_group_code is required")
        elif query is None:
            raise InvalidArgument("query is required")
        if category is not None and category not in CATEGORIES:
            raise InvalidArgument(f"category_group_code is invalid: {category}")
        lon = number(params, "x")
        lat = number(params, "y")
        if (lat is None) != (lon is None):
            raise InvalidArgument("x and y must be given together")
        if category_search and lat is None:
            raise InvalidArgument("x, y and radius (or rect) are required")
        radius = integer(params, "radius")
        if radius is not None and not 0 <= radius <= MAX_RADIUS_M:
            raise InvalidArgument(f"radius is more than the maximum {MAX_RADIUS_M}")
        page = integer(params, "page") or 1
        if not 1 <= page <= MAX_PAGE:
            raise InvalidArgument(f"page is out of range: 1 ~ {MAX_PAGE}")
        size = integer(params, "size") or MAX_SIZE
        if not 1 <= size <= MAX_SIZE:
            raise InvalidArgument(f"size is out of range: 1 ~ {MAX_SIZE}")
        sort = params.get("sort", "accuracy")
        if sort not in ("accuracy", "distance"):
            raise InvalidArgument(f"sort is invalid: {sort}")
        return cls(query, category, lat, lon, radius, page, size, sort)

    def answer(self, count: int, outside: int) -> dict[str, Any]:
        centre_lat, centre_lon = DEFAULT_CENTRE if self.lat is None else (self.lat, self.lon)
        assert centre_lon is not None
        reach = float(self.radius if self.radius else 1_000)
        # Places belong to the spot, not to the exact point asked about: a point a few metres
        # away finds the same ones (with other distances).
        spot = (round(centre_lat, 4), round(centre_lon, 4))
        label = self.query or CATEGORIES[self.category or ""]
        seed = hashlib.sha256(f"{spot}|{label}|{self.category}".encode()).digest()
        rng = random.Random(seed)
        places = []
        for n in range(1, count + outside + 1):
            fraction = rng.uniform(0.05, 0.9) if n <= count else rng.uniform(1.2, 2.0)
            place_lat, place_lon = offset(*spot, reach * fraction, rng.uniform(0, 360))
            place_id = str(int.from_bytes(seed[:4]) % 10**8 * 100 + n)
            places.append(self.document(place_id, n, label, place_lat, place_lon))
        if self.lat is not None and self.radius:
            # Kakao's own filter; the sloppy extras are let through on purpose.
            places = [
                place
                for n, place in enumerate(places, start=1)
                if n > count or float(place["distance"]) <= self.radius
            ]
        if self.sort == "distance" and self.lat is not None:
            places.sort(key=lambda place: float(place["distance"]))
        pageable = min(len(places), MAX_PAGEABLE)
        first = (self.page - 1) * self.size
        shown = places[first : min(first + self.size, pageable)]
        return {
            "meta": {
                "total_count": len(places),
                "pageable_count": pageable,
                "is_end": first + self.size >= pageable,
                "same_name": None
                if self.query is None
                else {"region": [], "keyword": self.query, "selected_region": ""},
            },
            "documents": shown,
        }

    def document(self, place_id: str, n: int, label: str, lat: float, lon: float) -> dict[str, Any]:
        category = self.category or "PO3"
        distance = ""
        if self.lat is not None and self.lon is not None:
            distance = str(round(haversine_m(self.lat, self.lon, lat, lon)))
        return {
            "id": place_id,
            "place_name": f"{label} {n}호",
            "category_name": f"사회,공공기관 > {CATEGORIES[category]}",
            "category_group_code": category,
            "category_group_name": CATEGORIES[category],
            "phone": f"02-{1000 + n}-{5000 + n}",
            "address_name": f"서울 중구 태평로1가 {n}",
            # Every third place has no road-name address, as many of Kakao's places have none.
            "road_address_name": "" if n % 3 == 0 else f"서울 중구 세종대로 {100 + n}",
            "x": f"{lon:.7f}",
            "y": f"{lat:.7f}",
            "place_url": f"http://place.map.kakao.com/{place_id}",
            "distance": distance,
        }


def number(params: dict[str, str], name: str) -> float | None:
    if params.get(name, "") == "":
        return None
    try:
        return float(params[name])
    except ValueError:
        raise InvalidArgument(f"{name} is not a number: {params[name]}") from None


def integer(params: dict[str, str], name: str) -> int | None:
    if params.get(name, "") == "":
        return None
    try:
        return int(params[name])
    except ValueError:
        raise InvalidArgument(f"{name} is not an integer: {params[name]}") from None


def offset(lat: float, lon: float, metres: float, bearing_degrees: float) -> tuple[float, float]:
    """The point `metres` from (lat, lon) on a bearing, on the same sphere as `haversine_m`."""
    angle = metres / EARTH_RADIUS_M
    bearing = math.radians(bearing_degrees)
    phi1, lambda1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(
        math.sin(phi1) * math.cos(angle) + math.cos(phi1) * math.sin(angle) * math.cos(bearing)
    )
    lambda2 = lambda1 + math.atan2(
        math.sin(bearing) * math.sin(angle) * math.cos(phi1),
        math.cos(angle) - math.sin(phi1) * math.sin(phi2),
    )
    return math.degrees(phi2), math.degrees(lambda2)
