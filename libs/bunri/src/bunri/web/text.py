"""Text a request may carry: no NUL, no other control character, nothing that turns text around.

PostgreSQL refuses NUL in text (the request would end in a 500), and control and bidi-override
characters are never what a person meant to type: they hide or spoof what others will read. Every
free-text field of a request is `PlainText` (one line) or `MultilineText` (paragraphs: line
breaks and tabs allowed); anything else in them is a 422 with the code `invalid_text`
(`bunri.web.errors`), naming the field. Parameters read outside pydantic (a multipart form's text
fields) go through `check_text`, which raises `InvalidText`, the same answer.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from bunri.errors import BunriError

INVALID_TEXT = "invalid_text"

# Bidi embedding, override and isolate controls: they turn text around (spoofing), not display it.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# What paragraphs are made of besides printable characters.
_LINE_CONTROLS = frozenset("\n\r\t")


class InvalidText(BunriError):
    status_code = 422
    code = INVALID_TEXT
    message = "The text contains a control character."


def text_problem(value: str, *, multiline: bool) -> str | None:
    """What is wrong with the text (a phrase), or None when it may be stored as it is."""
    for char in value:
        if char == "\x00":
            return "contains a NUL character"
        if char in BIDI_CONTROLS:
            return "contains a text-direction control character"
        if unicodedata.category(char) == "Cc" and not (multiline and char in _LINE_CONTROLS):
            if multiline:
                return f"contains a control character (U+{ord(char):04X})"
            return f"contains a control character (U+{ord(char):04X}; one line, no tabs)"
    return None


def check_text(value: str, *, field: str, multiline: bool = True) -> str:
    """The text as it is, or InvalidText naming the field (for text read outside pydantic)."""
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        message = f"The field '{field}' {problem}."
        details = [{"field": field, "message": message, "type": INVALID_TEXT}]
        raise InvalidText(message, extra={"details": details})
    return value


def _validator(*, multiline: bool) -> AfterValidator:
    def validate(value: str) -> str:
        problem = text_problem(value, multiline=multiline)
        if problem is not None:
            # The error handler names the field (it knows where the value was).
            raise PydanticCustomError(INVALID_TEXT, "The text {problem}.", {"problem": problem})
        return value

    return AfterValidator(validate)


PLAIN_TEXT = _validator(multiline=False)
MULTILINE_TEXT = _validator(multiline=True)

# The checks alone, for a type whose other constraints must run first (`StringConstraints` that
# strip: `Annotated[str, StringConstraints(strip_whitespace=True), PLAIN_TEXT]`).
PlainText = Annotated[str, PLAIN_TEXT]
"""One line of text: no control character at all (no line break, no tab), no bidi control."""

MultilineText = Annotated[str, MULTILINE_TEXT]
"""Paragraphs: line breaks (\\n, \\r) and tabs allowed; NUL, other controls and bidi refused."""
