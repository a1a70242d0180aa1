"""What a nickname may be: something a person sees, in one direction, on one line."""

from __future__ import annotations

import unicodedata

from my_api.errors import InvalidNickname

MAX_NICKNAME_CHARS = 50
# Characters that show nothing: format controls (zero-width space and joiners, bidi marks),
# separators, and combining marks with nothing to combine with.
_INVISIBLE = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me"})
# Hangul fillers and the braille blank: letters in Unicode's eyes, blank on every screen.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Bidi embedding, override and isolate controls: they turn text around (spoofing), not display it.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_nickname(raw: str) -> str:
    """The nickname as stored (NFC, trimmed), or InvalidNickname saying what is wrong."""
    nickname = unicodedata.normalize("NFC", raw).strip()
    if not nickname:
        raise InvalidNickname("The nickname is empty.")
    if len(nickname) > MAX_NICKNAME_CHARS:
        raise InvalidNickname(f"The nickname is longer than {MAX_NICKNAME_CHARS} characters.")
    if "\x00" in nickname:
        raise InvalidNickname("The nickname contains a NUL character.")
    if any(unicodedata.category(char) == "Cc" for char in nickname):
        raise InvalidNickname("The nickname contains a control character (a line break, a tab…).")
    if any(char in _BIDI_CONTROLS for char in nickname):
        raise InvalidNickname("The nickname contains a text-direction control character.")
    if all(unicodedata.category(char) in _INVISIBLE or char in _BLANK_LETTERS for char in nickname):
        raise InvalidNickname("The nickname has no visible character.")
    return nickname
