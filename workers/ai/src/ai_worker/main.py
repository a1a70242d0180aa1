"""`bunri-ai-worker`: the Celery worker's entry point."""

from __future__ import annotations

import sys


def main() -> None:
    sys.exit("the AI worker arrives with the scan pipeline (issue 3); nothing to run yet")
