"""`bunri.web.text`: the one type every request's text goes through. NUL (which PostgreSQL
refuses: a 500 before), other control characters and bidi overrides are a 422 `invalid_text`
naming the field; paragraphs keep their line breaks where a field holds paragraphs. The services'
own tests send the same characters to each endpoint (tests/*/test_text_fields.py)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import pytest
from fastapi import FastAPI, Query
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from bunri.web.errors import install_error_handlers
from bunri.web.text import INVALID_TEXT, InvalidText, MultilineText, PlainText, check_text

REFUSED = {
    "NUL": "a\x00b",
    "escape": "a\x1b[31mb",
    "DEL": "a\x7fb",
    "C1 next line": "a\x85b",
    "bidi override": "\u202eabc",
    "bidi embedding": "a\u202ab",
    "bidi isolate": "abc\u2067def",
}


class Body(BaseModel):
    title: PlainText = Field(max_length=50)
    story: MultilineText | None = None


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def post_thing(body: Body) -> Body:
        return body

    @app.get("/things/{name}")
    async def get_thing(
        name: PlainText, q: Annotated[PlainText | None, Query(max_length=10)] = None
    ) -> dict[str, str | None]:
        return {"name": name, "q": q}

    return app


client = TestClient(_app())


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_control_characters_in_a_body_field_are_invalid_text_naming_the_field(text: str) -> None:
    for body, field in (({"title": text}, "title"), ({"title": "x", "story": text}, "story")):
        response = client.post("/things", json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == INVALID_TEXT
        assert f"'{field}'" in error["message"]
        assert error["details"][0]["field"] == field


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_control_characters_in_path_and_query_parameters_are_invalid_text(text: str) -> None:
    response = client.get("/things/x", params={"q": text})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == INVALID_TEXT
    response = client.get(f"/things/{quote(text)}")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == INVALID_TEXT


def test_one_line_refuses_line_breaks_and_tabs_paragraphs_keep_them() -> None:
    for text in ("a\nb", "a\tb", "a\r\nb"):
        response = client.post("/things", json={"title": text})
        assert response.json()["error"]["code"] == INVALID_TEXT
    story = "분리수거는\n\t월요일에 해요.\r\n고마워요 🙂"
    response = client.post("/things", json={"title": "분리 배출 «팁» — 종이", "story": story})
    assert response.status_code == 200, response.text
    assert response.json() == {"title": "분리 배출 «팁» — 종이", "story": story}


def test_other_validation_errors_keep_their_code() -> None:
    response = client.post("/things", json={"title": "x" * 51})
    assert response.json()["error"]["code"] == "validation_error"


def test_check_text_is_the_same_rule_for_text_read_outside_pydantic() -> None:
    assert check_text("한 줄\n두 줄", field="note") == "한 줄\n두 줄"
    with pytest.raises(InvalidText) as refused:
        check_text("a\x00", field="note")
    assert refused.value.status_code == 422
    assert refused.value.code == INVALID_TEXT
    assert "'note'" in refused.value.detail
    with pytest.raises(InvalidText):
        check_text("a\nb", field="title", multiline=False)
