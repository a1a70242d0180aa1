"""`bunri guide NAME`, as a person runs it: the best match's guide, or a plain "nothing"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BUNRI = str(Path(sys.executable).parent / "bunri")


def bunri_guide(name: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BUNRI, "guide", name],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "120"},
    )


def test_initials_find_the_batteries_guide() -> None:
    found = bunri_guide("ㅂㅌㄹ")
    assert found.returncode == 0, found.stderr
    assert "재활용폐기물 / 전지" in found.stdout
    assert "폐전지 수거함" in found.stdout


def test_a_word_no_guide_knows_says_so() -> None:
    nothing = bunri_guide("우주선")
    assert nothing.returncode == 1
    assert "nothing in the guides goes by that name" in nothing.stdout
