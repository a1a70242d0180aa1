"""scan-api's allocator tuning: freed upload buffers are reused, not faulted in again."""

from __future__ import annotations

import sys

import pytest

from tests.support.processes import python_says

# A request holds several copies of the photo at once (the body, the part, the message) and frees
# them together; count the page faults that costs.
_PROBE = """
import resource, sys
from bunri.web.memory import keep_freed_upload_buffers
if sys.argv[1] == "tuned":
    assert keep_freed_upload_buffers(11 * 1024 * 1024)
photo = b"x" * 400_000
for _ in range(5):
    bytearray(photo)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(200):
    copies = [bytearray(photo) for _ in range(4)]
    del copies
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_per_upload(mode: str) -> float:
    return int(python_says(_PROBE, mode)) / 200


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_upload_buffers_are_reused_instead_of_faulted_in_again() -> None:
    untuned = _faults_per_upload("default")
    tuned = _faults_per_upload("tuned")
    # Untuned, glibc trims the freed copies and faults them in again: 4 copies of ~98 pages.
    assert untuned >= 200
    assert tuned <= 5
