"""The gateway's nginx.conf, read with NGINX's own configuration parser (crossplane), and the
location a request path lands in, by nginx's rules: an exact `=` match wins; else the longest
prefix, unless a regex location (tried in file order) matches and the prefix is not `^~`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import crossplane  # type: ignore[import-untyped]

from tests.deploy.compose import ROOT

NGINX_CONF = ROOT / "infra" / "nginx" / "nginx.conf"

Block = list[dict[str, Any]]


@dataclass(frozen=True)
class Location:
    modifier: str  # "", "=", "^~", "~", "~*"
    pattern: str
    block: tuple[dict[str, Any], ...]

    def directives(self, name: str) -> list[list[str]]:
        return [entry["args"] for entry in self.block if entry["directive"] == name]


@cache
def parsed() -> dict[str, Any]:
    # single: do not follow include (none is used); errors are collected, not raised.
    payload: dict[str, Any] = crossplane.parse(str(NGINX_CONF), single=True, comments=False)
    return payload


def errors() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = parsed()["errors"]
    return found


def top() -> Block:
    block: Block = parsed()["config"][0]["parsed"]
    return block


def find(block: Block, name: str) -> list[dict[str, Any]]:
    return [entry for entry in block if entry["directive"] == name]


def http() -> Block:
    (entry,) = find(top(), "http")
    block: Block = entry["block"]
    return block


def server() -> Block:
    (entry,) = find(http(), "server")
    block: Block = entry["block"]
    return block


def upstreams() -> dict[str, list[str]]:
    """Upstream name -> the `server` addresses in it (host:port)."""
    return {
        entry["args"][0]: [server["args"][0] for server in find(entry["block"], "server")]
        for entry in find(http(), "upstream")
    }


def locations() -> list[Location]:
    found = []
    for entry in find(server(), "location"):
        args = entry["args"]
        modifier, pattern = (args[0], args[1]) if len(args) == 2 else ("", args[0])
        found.append(Location(modifier, pattern, tuple(entry["block"])))
    return found


def location_for(path: str) -> Location | None:
    every = locations()
    for location in every:
        if location.modifier == "=" and location.pattern == path:
            return location
    prefixes = [
        location
        for location in every
        if location.modifier in ("", "^~") and path.startswith(location.pattern)
    ]
    longest = max(prefixes, key=lambda location: len(location.pattern), default=None)
    if longest is not None and longest.modifier == "^~":
        return longest
    for location in every:
        flags = re.IGNORECASE if location.modifier == "~*" else 0
        if location.modifier in ("~", "~*") and re.search(location.pattern, path, flags):
            return location
    return longest


def upstream_of(location: Location) -> str | None:
    """The upstream a location proxies to (`proxy_pass http://NAME`), if any."""
    passes = location.directives("proxy_pass")
    if not passes:
        return None
    match = re.fullmatch(r"https?://(?P<name>[^/:]+)", passes[0][0])
    assert match, f"proxy_pass with a URI part rewrites paths: {passes[0]}"
    return match["name"]


def effective(location: Location, name: str) -> list[list[str]]:
    """A directive's values as the location sees them: its own, else inherited from the server,
    else from http (nginx inherits array directives such as proxy_set_header only when the
    inner level sets none of them)."""
    for block in (list(location.block), server(), http()):
        found = [entry["args"] for entry in block if entry["directive"] == name]
        if found:
            return found
    return []


def headers_sent(location: Location) -> dict[str, str]:
    return {args[0].lower(): args[1] for args in effective(location, "proxy_set_header")}
