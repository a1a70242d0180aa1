"""Korean text as a keyboard types it: syllables split into the jamo keystrokes of the standard
two-set (두벌식) layout, and the initial consonants (초성) of each syllable.

Comparing keystrokes rather than syllables is what lets "배털" (배 + 터 with ㄹ still being typed)
match 배터리, and one wrong key count as one typo.
"""

from __future__ import annotations

import unicodedata

_SYLLABLE_FIRST, _SYLLABLE_LAST = 0xAC00, 0xD7A3
INITIALS = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ"
_VOWELS = "ㅏㅐㅑㅒㅓㅔㅕㅖㅗㅘㅙㅚㅛㅜㅝㅞㅟㅠㅡㅢㅣ"
_FINALS = ("", *"ㄱㄲㄳㄴㄵㄶㄷㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅄㅅㅆㅇㅈㅊㅋㅌㅍㅎ")
# Compound letters as the keys that make them.
_KEYS = {
    "ㅘ": "ㅗㅏ", "ㅙ": "ㅗㅐ", "ㅚ": "ㅗㅣ", "ㅝ": "ㅜㅓ", "ㅞ": "ㅜㅔ", "ㅟ": "ㅜㅣ",
    "ㅢ": "ㅡㅣ", "ㄳ": "ㄱㅅ", "ㄵ": "ㄴㅈ", "ㄶ": "ㄴㅎ", "ㄺ": "ㄹㄱ", "ㄻ": "ㄹㅁ",
    "ㄼ": "ㄹㅂ", "ㄽ": "ㄹㅅ", "ㄾ": "ㄹㅌ", "ㄿ": "ㄹㅍ", "ㅀ": "ㄹㅎ", "ㅄ": "ㅂㅅ",
}  # fmt: skip
# NFKC turns compatibility jamo (what a keyboard sends, U+3131...) into conjoining ones (U+1100...):
# back to compatibility, so that both spellings compare equal.
_CONJOINING = {
    **{chr(0x1100 + index): letter for index, letter in enumerate(INITIALS)},
    **{chr(0x1161 + index): letter for index, letter in enumerate(_VOWELS)},
    **{chr(0x11A8 + index): letter for index, letter in enumerate(_FINALS[1:])},
}
_CONSONANTS = frozenset("ㄱㄲㄳㄴㄵㄶㄷㄸㄹㄺㄻㄼㄽㄾㄿㅀㅁㅂㅃㅄㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ")


def normalise(text: str) -> str:
    """Compatibility forms folded (full-width letters, decomposed syllables, conjoining jamo),
    lower case, and nothing but letters and digits: spaces and punctuation are how people differ,
    not what they mean."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = "".join(_CONJOINING.get(char, char) for char in folded)
    return "".join(char for char in folded if char.isalnum())


def keystrokes(text: str) -> str:
    """`text` (normalised) with each syllable as its keys: 배터리 → ㅂㅐㅌㅓㄹㅣ."""
    keys: list[str] = []
    for char in text:
        code = ord(char)
        if _SYLLABLE_FIRST <= code <= _SYLLABLE_LAST:
            index = code - _SYLLABLE_FIRST
            initial, vowel, final = index // 588, index % 588 // 28, index % 28
            keys.append(INITIALS[initial])
            keys.append(_KEYS.get(_VOWELS[vowel], _VOWELS[vowel]))
            keys.append(_KEYS.get(_FINALS[final], _FINALS[final]))
        else:
            keys.append(_KEYS.get(char, char))
    return "".join(keys)


def initials(text: str) -> str:
    """The initial consonant of each syllable of `text` (normalised); other letters are dropped."""
    return "".join(
        INITIALS[(ord(char) - _SYLLABLE_FIRST) // 588]
        for char in text
        if _SYLLABLE_FIRST <= ord(char) <= _SYLLABLE_LAST
    )


def is_initials(text: str) -> bool:
    """True for a query of consonants only, as people type 초성 (ㅂㅌㄹ)."""
    return bool(text) and all(char in _CONSONANTS for char in text)


def has_hangul(text: str) -> bool:
    return any(
        _SYLLABLE_FIRST <= ord(char) <= _SYLLABLE_LAST or char in _CONSONANTS for char in text
    )
