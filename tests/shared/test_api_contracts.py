"""The contracts every service's OpenAPI shows: one pagination scheme for every list, and the
typed bodies of results and event frames (what clients generate their code from)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from auth_api.app import create_app as create_auth_app
from bunri.web.pagination import InvalidCursor, Page, PageRequest, decode_cursor, encode_cursor
from chat_api.app import create_app as create_chat_app
from my_api.app import create_app as create_my_app
from scan_api.app import create_app as create_scan_app

APPS: dict[str, Callable[[], FastAPI]] = {
    "auth-api": create_auth_app,
    "scan-api": create_scan_app,
    "chat-api": create_chat_app,
    "my-api": create_my_app,
}
# Collections that are not pages of rows: a JSON Web Key Set's `keys` (RFC 7517), and the whole
# disposal taxonomy (a fixed document, served with an ETag).
NOT_PAGES = {"JsonWebKeySet", "TaxonomyBody"}


def openapi(service: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(directory)  # auth-api writes a development signing key where it runs
    return APPS[service]().openapi()


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = schema.get("$ref", "").rsplit("/", 1)[-1]
    return name, spec["components"]["schemas"].get(name, schema)


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_list_is_one_newest_first_page_with_a_cursor(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = openapi(service, tmp_path, monkeypatch)
    lists = []
    for path, operations in spec["paths"].items():
        answer = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        name, body = resolve(spec, schema)
        # A list is a body that holds one array and nothing else but, perhaps, how to go on; a
        # resource that carries an array among its fields (a user's sign-in methods) is not.
        fields = body.get("properties", {})
        arrays = [field for field, value in fields.items() if "items" in value]
        if len(arrays) != 1 or set(fields) - {arrays[0], "next_cursor", "cursor"}:
            continue
        if name in NOT_PAGES:
            continue
        lists.append(path)
        assert set(body["properties"]) == {"items", "next_cursor"}, (path, name)
        assert set(body["required"]) == {"items", "next_cursor"}, (path, name)
        parameters = {p["name"]: p for p in operations["get"].get("parameters", [])}
        assert parameters["limit"]["schema"]["maximum"] == 100, path
        assert parameters["cursor"]["in"] == "query", path
    expected = {
        "auth-api": [],
        "scan-api": ["/api/v1/scans"],
        "chat-api": ["/api/v1/chat/conversations"],
        "my-api": [],  # a person's own resources: none is a list of rows yet
    }
    assert lists == expected[service]


def test_scan_api_documents_its_event_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = openapi("scan-api", tmp_path, monkeypatch)
    events = spec["paths"]["/api/v1/scans/{scan_id}/events"]["get"]["responses"]["200"]
    item = events["content"]["text/event-stream"]["itemSchema"]
    assert item["properties"]["data"]["contentSchema"]["$ref"].endswith("/ScanEventFrame")
    frame = spec["components"]["schemas"]["ScanEventFrame"]
    assert set(frame["properties"]) == {"status", "progress", "scan"}
    assert frame["properties"]["scan"]["anyOf"][0]["$ref"].endswith("/ScanOut")


def test_chat_api_documents_its_websocket_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = openapi("chat-api", tmp_path, monkeypatch)
    schemas = spec["components"]["schemas"]
    server = schemas["ChatServerFrame"]
    assert set(server["discriminator"]["mapping"]) == {
        "ready",
        "pong",
        "start",
        "delta",
        "done",
        "error",
    }
    assert set(schemas["ChatClientFrame"]["discriminator"]["mapping"]) == {
        "auth",
        "message",
        "cancel",
        "ping",
    }
    for reference in server["discriminator"]["mapping"].values():
        assert reference.rsplit("/", 1)[-1] in schemas
    sources = schemas["DoneFrame"]["properties"]["sources"]["items"]
    assert sources["$ref"].endswith("/GuideSource")
    message_sources = schemas["MessageOut"]["properties"]["sources"]["anyOf"][0]
    assert message_sources["items"]["$ref"].endswith("/GuideSource")


def test_a_cursor_is_opaque_and_round_trips() -> None:
    row_id = uuid.uuid4()
    cursor = encode_cursor(row_id)
    assert len(cursor) == 22
    assert "=" not in cursor
    assert decode_cursor(cursor) == row_id


@pytest.mark.parametrize("cursor", ["", "!!!!", "AAAA", "a" * 23, "A" * 10_000])
def test_a_cursor_the_api_did_not_hand_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


class Row:
    def __init__(self) -> None:
        self.id = uuid.uuid4()


class Numbers(Page[str]):
    pass


def test_a_page_reads_one_row_more_to_know_whether_another_follows() -> None:
    rows = [Row() for _ in range(3)]
    paging = PageRequest(limit=2, older_than=None)
    assert paging.fetch == 3
    page = paging.page(Numbers, rows, lambda row: str(row.id))
    assert page.items == [str(rows[0].id), str(rows[1].id)]
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor) == rows[1].id
    last = paging.page(Numbers, rows[:2], lambda row: str(row.id))
    assert last.next_cursor is None
    assert paging.page(Numbers, [], lambda row: str(row.id)) == Numbers(items=[], next_cursor=None)
