"""Contracts that FastAPI cannot see from a route's signature, written into the OpenAPI anyway.

FastAPI documents the JSON bodies of HTTP routes. A server-sent event's `data` and a WebSocket's
frames are JSON too, and a client needs their schemas just as much; these helpers put them in
`components.schemas` and point a route's stream at them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter

REF_TEMPLATE = "#/components/schemas/{model}"


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def event_stream_response(frame: type[BaseModel], description: str) -> dict[str, Any]:
    """A `responses` entry for a `text/event-stream` route whose events carry `frame` as data
    (OpenAPI's `itemSchema`, as FastAPI writes it for its own event streams)."""
    event = {
        "type": "object",
        "required": ["data"],
        "properties": {
            "id": {"type": "string"},
            "event": {"type": "string"},
            "retry": {"type": "integer", "minimum": 0},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": schema_ref(frame),
            },
        },
    }
    return {"description": description, "content": {"text/event-stream": {"itemSchema": event}}}


def document_schemas(app: FastAPI, schemas: Mapping[str, Any]) -> None:
    """Add `schemas` (name → a model, or a union of models) to the app's OpenAPI components;
    the schemas they refer to come along, and FastAPI's own definitions are kept."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = build()
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in schemas.items():
            generated = TypeAdapter(schema).json_schema(
                ref_template=REF_TEMPLATE, mode="serialization"
            )
            for referred, definition in generated.pop("$defs", {}).items():
                components.setdefault(referred, definition)
            components.setdefault(name, generated)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
