"""The gateway (infra/nginx/nginx.conf) against compose and the code: every upstream is a compose
service listening on that port, every route each service serves reaches it, the routing agrees
with standalone mode's and with DESIGN.md section 1, SSE and the export are unbuffered, the chat
WebSocket is upgraded, photos fit under the body ceiling, only info-api's public answers are
cached, and the gateway's own errors are the platform's JSON."""

from __future__ import annotations

import json
import re
import uuid
from functools import cache

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute

from auth_api.app import create_app as create_auth_app
from auth_api.settings import AuthApiSettings
from bunri.storage import profile_photo_key
from bunri_programs.standalone.gateway import SERVICE_PREFIXES
from character_api.app import create_app as create_character_app
from character_api.settings import CharacterApiSettings
from chat_api.app import create_app as create_chat_app
from chat_api.settings import ChatApiSettings
from info_api.app import create_app as create_info_app
from info_api.settings import InfoApiSettings
from location_api.app import create_app as create_location_app
from location_api.settings import LocationApiSettings
from my_api.app import MULTIPART_OVERHEAD_BYTES as MY_API_MULTIPART_OVERHEAD_BYTES
from my_api.app import create_app as create_my_app
from my_api.settings import MyApiSettings
from scan_api.app import MULTIPART_OVERHEAD_BYTES
from scan_api.app import create_app as create_scan_app
from scan_api.settings import ScanApiSettings
from tests.deploy import compose, nginx
from tests.deploy.compose import ROOT
from tests.deploy.stack import API_PORT_FIELDS, container_env
from tests.support.keys import ed25519_pem

# DESIGN.md section 1 (shared/DESIGN.md): one base URL, routed by path.
DESIGN_ROUTES = {
    "/api/v1/auth/login": "auth-api",
    "/.well-known/jwks.json": "auth-api",
    "/api/v1/scans": "scan-api",
    f"/api/v1/scans/{uuid.UUID(int=1)}/events": "scan-api",  # SSE
    "/api/v1/chat/ws": "chat-api",  # WebSocket
    "/api/v1/chat/conversations": "chat-api",
    "/api/v1/my/profile": "my-api",
    "/api/v1/my/profile/photo": "my-api",
    "/api/v1/my/export": "my-api",  # a long stream
    "/api/v1/character": "character-api",
    "/api/v1/locations/nearby": "location-api",
    "/api/v1/locations/docs": "location-api",
    "/api/v1/info/search": "info-api",
    "/api/v1/info/suggest": "info-api",
    "/api/v1/info/docs": "info-api",
    "/api/v1/guides": "info-api",  # moved from scan-api
    "/api/v1/guides/가연성/종이": "info-api",
}
# Paths that belong to no service, though they start like one.
UNROUTED = [
    "/",
    "/api/v1/authx",
    "/api/v1/scansx",
    "/api/v1/chatty",
    "/api/v1/myself",
    "/api/v1/characters",
    "/api/v1/location",
    "/api/v1/locationsx",
    "/api/v1/inf",
    "/api/v1/infox",
    "/api/v1/information",
    "/api/v1/guide",
    "/api/v1/guidesx",
    "/.well-knownx",
    "/api",
]


@cache
def service_apps() -> dict[str, FastAPI]:
    """Each service's real application, as its entry point builds it (nothing is started)."""
    return {
        "auth-api": create_auth_app(AuthApiSettings(signing_key=ed25519_pem(), log_json=False)),
        "scan-api": create_scan_app(ScanApiSettings(log_json=False)),
        "chat-api": create_chat_app(ChatApiSettings(log_json=False)),
        "my-api": create_my_app(MyApiSettings(log_json=False)),
        "character-api": create_character_app(CharacterApiSettings(log_json=False)),
        "location-api": create_location_app(LocationApiSettings(log_json=False)),
        "info-api": create_info_app(InfoApiSettings(log_json=False)),
    }


def sample_path(template: str) -> str:
    """A concrete path for a route template: each {parameter} becomes a UUID."""
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=7)), template)


def routed_service(path: str) -> str | None:
    """The compose service the gateway sends `path` to."""
    location = nginx.location_for(path)
    if location is None:
        return None
    upstream = nginx.upstream_of(location)
    if upstream is None:
        return None
    (address,) = nginx.upstreams()[upstream]
    return address.split(":")[0]


def standalone_service(path: str) -> str | None:
    """The service `bunri standalone`'s PathRouter hands `path` to (same rule as its code)."""
    for service, prefixes in SERVICE_PREFIXES.items():
        if any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes):
            return service
    return None


def test_nginx_conf_parses_cleanly() -> None:
    assert nginx.errors() == []


def test_every_upstream_is_a_compose_service_listening_on_that_port() -> None:
    services = compose.services()
    for upstream, addresses in nginx.upstreams().items():
        assert addresses, f"upstream {upstream} has no server"
        for address in addresses:
            host, _, port = address.partition(":")
            assert host in services, f"upstream {upstream}: no compose service {host}"
            assert port in services[host].get("expose", []), (
                f"upstream {upstream}: {host} does not expose {port}"
            )
            if host in API_PORT_FIELDS:
                env = container_env(host)
                assert env["BUNRI_" + API_PORT_FIELDS[host].upper()] == port, (
                    f"{host} listens on another port than {port}"
                )


def test_every_upstream_is_used() -> None:
    used = {nginx.upstream_of(location) for location in nginx.locations()}
    assert set(nginx.upstreams()) <= used


@pytest.mark.parametrize("service", sorted(SERVICE_PREFIXES))
def test_every_route_a_service_serves_reaches_it(service: str) -> None:
    app = service_apps()[service]
    paths = [
        route.path
        for route in app.routes
        if isinstance(route, APIRoute | APIWebSocketRoute)
        and route.path not in ("/healthz", "/readyz")  # each container's own probes
    ]
    paths += [path for path in (app.docs_url, app.openapi_url) if path]
    assert paths
    for path in paths:
        concrete = sample_path(path)
        assert routed_service(concrete) == service, f"the gateway sends {concrete} elsewhere"
        assert standalone_service(concrete) == service, f"standalone sends {concrete} elsewhere"


@pytest.mark.parametrize(("path", "service"), sorted(DESIGN_ROUTES.items()))
def test_the_routes_of_design_section_1(path: str, service: str) -> None:
    assert routed_service(path) == service
    assert standalone_service(path) == service


@pytest.mark.parametrize("service", sorted(SERVICE_PREFIXES))
def test_the_gateway_routes_each_standalone_prefix_the_same(service: str) -> None:
    for prefix in SERVICE_PREFIXES[service]:
        for path in (prefix, prefix + "/", prefix + "/anything/below"):
            assert routed_service(path) == service, f"{path}: standalone sends it to {service}"


def test_no_location_sends_to_a_service_what_standalone_would_not() -> None:
    api_services = set(SERVICE_PREFIXES)
    for location in nginx.locations():
        upstream = nginx.upstream_of(location)
        if upstream is None:
            continue
        (address,) = nginx.upstreams()[upstream]
        service = address.split(":")[0]
        if service not in api_services:
            continue
        path = location.pattern
        if location.modifier in ("~", "~*"):
            path = f"/api/v1/scans/{uuid.UUID(int=3)}/events"
            assert re.search(location.pattern, path), f"update this sample for {location.pattern}"
        assert standalone_service(path) == service, f"location {location.pattern}"


@pytest.mark.parametrize("path", UNROUTED)
def test_paths_outside_every_prefix_reach_no_service(path: str) -> None:
    assert standalone_service(path) is None
    assert routed_service(path) not in SERVICE_PREFIXES


def test_live_progress_is_passed_on_unbuffered() -> None:
    location = nginx.location_for(f"/api/v1/scans/{uuid.UUID(int=9)}/events")
    assert location is not None
    assert ["off"] in location.directives("proxy_buffering"), "SSE would wait in nginx's buffer"
    keepalive = ScanApiSettings.model_fields["sse_keepalive_seconds"].default
    assert _seconds(nginx.effective(location, "proxy_read_timeout")) > 2 * keepalive


def test_the_export_is_passed_on_unbuffered() -> None:
    """GET /api/v1/my/export streams everything stored about a person as it reads it: buffered,
    a long export would wait whole in nginx (or spill to a temporary file) before the first
    byte reached the client."""
    location = nginx.location_for("/api/v1/my/export")
    assert location is not None
    assert nginx.upstream_of(location) == "my_api"
    assert ["off"] in location.directives("proxy_buffering"), "the export would be buffered"
    assert _seconds(nginx.effective(location, "proxy_read_timeout")) >= 60
    # Only the export: the rest of my-api (small JSON answers) keeps nginx's buffering.
    profile = nginx.location_for("/api/v1/my/profile")
    assert profile is not None
    assert nginx.effective(profile, "proxy_buffering") in ([], [["on"]])


def test_the_chat_websocket_is_upgraded() -> None:
    location = nginx.location_for("/api/v1/chat/ws")
    assert location is not None
    headers = nginx.headers_sent(location)
    assert headers.get("upgrade") == "$http_upgrade"
    assert headers.get("connection") == "$connection_upgrade"
    assert nginx.effective(location, "proxy_http_version") == [["1.1"]]
    maps = {
        entry["args"][1]: entry["block"]
        for entry in nginx.find(nginx.http(), "map")
        if entry["args"][0] == "$http_upgrade"
    }
    rules = {entry["directive"]: entry["args"] for entry in maps["$connection_upgrade"]}
    assert rules["default"] == ["upgrade"], "an Upgrade request must say Connection: upgrade"
    heartbeat = ChatApiSettings.model_fields["chat_heartbeat_seconds"].default
    assert _seconds(nginx.effective(location, "proxy_read_timeout")) > 2 * heartbeat


def test_every_proxied_location_keeps_the_request_id_and_the_client_address() -> None:
    for location in nginx.locations():
        if nginx.upstream_of(location) in (None, "minio"):
            continue
        headers = nginx.headers_sent(location)
        assert headers.get("x-request-id") == "$bunri_request_id", location.pattern
        # Overwritten, not appended to: a client cannot pick the address rate limits count.
        assert headers.get("x-forwarded-for") == "$remote_addr", location.pattern
        assert headers.get("host") == "$http_host", location.pattern
    for service in SERVICE_PREFIXES:
        assert container_env(service).get("BUNRI_FORWARDED_ALLOW_IPS"), (
            f"{service} would ignore the gateway's X-Forwarded-For"
        )


def test_the_body_ceiling_is_above_scan_apis_own_limit() -> None:
    location = nginx.location_for("/api/v1/scans")
    assert location is not None
    (ceiling,) = nginx.effective(location, "client_max_body_size")
    env = container_env("scan-api")
    limit = int(env.get("BUNRI_MAX_IMAGE_BYTES", ScanApiSettings().max_image_bytes))
    assert _bytes(ceiling[0]) >= limit + MULTIPART_OVERHEAD_BYTES, (
        "nginx would refuse an image scan-api accepts, with its own error instead of "
        "image_too_large"
    )


def test_the_body_ceiling_is_above_my_apis_profile_photo_limit() -> None:
    location = nginx.location_for("/api/v1/my/profile/photo")
    assert location is not None
    assert nginx.upstream_of(location) == "my_api"
    (ceiling,) = nginx.effective(location, "client_max_body_size")
    env = container_env("my-api")
    limit = int(env.get("BUNRI_MAX_IMAGE_BYTES", MyApiSettings().max_image_bytes))
    assert _bytes(ceiling[0]) >= limit + MY_API_MULTIPART_OVERHEAD_BYTES, (
        "nginx would refuse a profile photo my-api accepts, with its own error instead of "
        "image_too_large"
    )


# The one cache zone: info-api's answers (/api/v1/info, /api/v1/guides) are the same for everyone,
# with no token, so the gateway keeps them; nothing else is cached.
INFO_CACHE_ZONE = "bunri_info"


def _cache_zone(location: nginx.Location) -> str | None:
    """The proxy_cache zone a location fills (its own, or inherited), else None."""
    zones = nginx.effective(location, "proxy_cache")
    if not zones or zones[0] == ["off"]:
        return None
    return zones[0][0]


def _cache_path() -> tuple[str, dict[str, str]]:
    (entry,) = nginx.find(nginx.http(), "proxy_cache_path")
    folder, *options = entry["args"]
    return folder, dict(option.split("=", 1) for option in options)


def test_only_info_apis_public_answers_are_cached() -> None:
    """proxy_cache is said in info-api's locations alone, never at the http or server level
    (every location would inherit it), and every path outside /api/v1/info and /api/v1/guides
    reaches a location that caches nothing."""
    folder, options = _cache_path()
    zone, _, size = options["keys_zone"].partition(":")
    assert zone == INFO_CACHE_ZONE
    assert _bytes(size.lower()) <= 64 * 1024**2, "a modest keys zone"
    assert _bytes(options["max_size"].lower()) <= 1024**3, "a bounded cache on disk"
    assert options["inactive"]
    assert folder.startswith("/var/cache/nginx/")
    for block in (nginx.http(), nginx.server()):
        assert nginx.find(block, "proxy_cache") == [], "every location would inherit it"
    info_locations = [
        location for location in nginx.locations() if nginx.upstream_of(location) == "info_api"
    ]
    assert info_locations
    for location in nginx.locations():
        expected = INFO_CACHE_ZONE if location in info_locations else None
        assert _cache_zone(location) == expected, f"location {location.modifier} {location.pattern}"
    for path, service in sorted(DESIGN_ROUTES.items()):
        routed = nginx.location_for(path)
        assert routed is not None
        assert (_cache_zone(routed) is not None) == (service == "info-api"), path
    for path in UNROUTED:
        unrouted = nginx.location_for(path)
        assert unrouted is None or _cache_zone(unrouted) is None, path


@pytest.mark.parametrize("service", sorted(SERVICE_PREFIXES))
def test_no_route_that_takes_a_token_is_cached(service: str) -> None:
    """Every route a cached location reaches is info-api's, answers GET without a token (its
    OpenAPI asks for no security) and sends nothing per person."""
    app = service_apps()[service]
    for path, operations in app.openapi()["paths"].items():
        if path in ("/healthz", "/readyz"):
            continue
        location = nginx.location_for(sample_path(path))
        assert location is not None, path
        if _cache_zone(location) is None:
            continue
        assert service == "info-api", f"{service}'s {path} would be cached"
        for method, operation in operations.items():
            assert method in ("get", "head"), f"{method.upper()} {path} is cached"
            assert not operation.get("security"), f"{path} takes a token, and would be cached"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/info/search",
        "/api/v1/info/suggest",
        "/api/v1/info/docs",
        "/api/v1/info",
        "/api/v1/guides",
        "/api/v1/guides/가연성/종이",
    ],
)
def test_the_info_cache_follows_info_apis_cache_control(path: str) -> None:
    """info-api's Cache-Control (max-age, stale-while-revalidate) decides how long an answer is
    kept: no header of it is ignored, and proxy_cache_valid is a short fallback for 200 only. An
    expired answer is revalidated with its ETag and served stale meanwhile, or while info-api
    fails; one request at a time fills an entry; X-Cache-Status says what the cache did."""
    location = nginx.location_for(path)
    assert location is not None
    assert nginx.upstream_of(location) == "info_api"
    assert _cache_zone(location) == INFO_CACHE_ZONE
    assert nginx.effective(location, "proxy_ignore_headers") == []
    assert nginx.effective(location, "proxy_cache_key") == [], "the default key has the query"
    assert nginx.effective(location, "proxy_cache_methods") == [], "GET and HEAD only"
    assert location.directives("proxy_cache_valid") == [["200", "1m"]]
    (stale,) = location.directives("proxy_cache_use_stale")
    assert set(stale) == {
        "error",
        "timeout",
        "updating",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
    }
    for name in ("proxy_cache_background_update", "proxy_cache_lock", "proxy_cache_revalidate"):
        assert location.directives(name) == [["on"]], name
    added = {args[0].lower(): args[1:] for args in location.directives("add_header")}
    assert added["x-cache-status"] == ["$upstream_cache_status", "always"]
    # A location's own add_header replaces the server's: each is said again.
    for entry in nginx.find(nginx.server(), "add_header"):
        assert added.get(entry["args"][0].lower()) == entry["args"][1:], entry["args"]
    assert ["off"] not in nginx.effective(location, "proxy_buffering"), "nothing to cache"


def test_the_info_cache_lives_in_the_gateways_tmpfs() -> None:
    """The cache folder is a tmpfs in the gateway's container, larger than the cache's max_size,
    so that a full cache never fails to write."""
    folder, options = _cache_path()
    mounts = dict(entry.partition(":")[::2] for entry in compose.services()["gateway"]["tmpfs"])
    assert folder in mounts, f"{folder} is no tmpfs of the gateway"
    size = dict(option.split("=", 1) for option in mounts[folder].split(","))["size"]
    assert _bytes(size) > _bytes(options["max_size"])


def test_the_gateways_own_errors_are_the_platforms_json() -> None:
    server = nginx.server()
    pages = {
        tuple(entry["args"][:-2]): entry["args"][-1] for entry in nginx.find(server, "error_page")
    }
    named = {location.pattern: location for location in nginx.locations()}
    for codes, status in ((("502", "503", "504"), "503"), (("413",), "413")):
        target = pages.get(codes)
        assert target is not None, f"no error page for {codes}"
        assert target.startswith("@"), f"no JSON error page for {codes}"
        returned = named[target].directives("return")[0]
        assert returned[0] == status
        assert json.loads(returned[1])["error"]["code"]
    not_found = nginx.location_for("/no/such/path")
    assert not_found is not None
    status, body = not_found.directives("return")[0]
    assert status == "404"
    assert json.loads(body)["error"]["code"] == "not_found"
    (default_type,) = nginx.find(nginx.http(), "default_type")
    assert default_type["args"] == ["application/json"]


def test_the_one_base_url_is_port_8080() -> None:
    gateway = compose.services()["gateway"]
    assert "8080:8080" in gateway["ports"]
    assert [entry["args"] for entry in nginx.find(nginx.server(), "listen")] == [["8080"]]
    mounts = {mount.split(":")[1]: mount.split(":")[0] for mount in gateway["volumes"]}
    assert (ROOT / mounts["/etc/nginx/nginx.conf"]).resolve() == nginx.NGINX_CONF
    assert "http://127.0.0.1:8080/healthz" in compose.healthcheck_argv("gateway")
    healthz = nginx.location_for("/healthz")
    assert healthz is not None
    status, body = healthz.directives("return")[0]
    assert status == "200"
    assert json.loads(body) == {"status": "ok"}
    for service in SERVICE_PREFIXES:
        assert "ports" not in compose.services()[service], f"{service} bypasses the gateway"


def test_scan_images_are_read_through_the_base_url() -> None:
    """scan-api and my-api sign image URLs for the public base URL; the gateway passes the
    bucket's path to MinIO, for reads only, with the client's Host (it is signed) and without
    its bearer."""
    scan_api = container_env("scan-api")
    auth_api = container_env("auth-api")
    assert scan_api["BUNRI_S3_ENDPOINT_URL"] == auth_api["BUNRI_PUBLIC_BASE_URL"]
    bucket = scan_api["BUNRI_S3_BUCKET"]
    assert container_env("storage-worker")["BUNRI_S3_BUCKET"] == bucket
    my_api = container_env("my-api")
    assert my_api["BUNRI_S3_ENDPOINT_URL"] == auth_api["BUNRI_PUBLIC_BASE_URL"]
    assert my_api["BUNRI_S3_BUCKET"] == bucket
    photo = nginx.location_for(f"/{bucket}/{profile_photo_key(uuid.UUID(int=6), 1, 512)}")
    assert photo is not None
    assert nginx.upstream_of(photo) == "minio"
    location = nginx.location_for(f"/{bucket}/scans/{uuid.UUID(int=5)}/original.jpg")
    assert location is not None
    assert nginx.upstream_of(location) == "minio"
    assert location.pattern == f"/{bucket}/"
    headers = nginx.headers_sent(location)
    assert headers.get("authorization") == ""  # the parser unquotes ""
    assert headers.get("host") == "$http_host"
    (limit,) = [entry for entry in location.block if entry["directive"] == "limit_except"]
    assert limit["args"] == ["GET"]
    assert limit["block"][0]["directive"] == "deny"


def test_flower_is_served_under_its_prefix_with_basic_auth() -> None:
    flower = compose.environment("flower", {"RABBITMQ_PASSWORD": "p", "FLOWER_PASSWORD": "f"})
    prefix = flower["FLOWER_URL_PREFIX"]
    location = nginx.location_for(f"/{prefix}/dashboard")
    assert location is not None
    assert nginx.upstream_of(location) == "flower"
    assert location.pattern == f"/{prefix}/"
    assert flower["FLOWER_BASIC_AUTH"].endswith(":f"), "Flower's password is FLOWER_PASSWORD"
    assert "${FLOWER_PASSWORD:?" in compose.services()["flower"]["environment"]["FLOWER_BASIC_AUTH"]


def _seconds(values: list[list[str]]) -> float:
    (value,) = values[0]
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, value
    return int(match[1]) * units[match[2] or "s"]


def _bytes(value: str) -> int:
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert match, value
    return int(match[1]) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[match[2].lower()]
