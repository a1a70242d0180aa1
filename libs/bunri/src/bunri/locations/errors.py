"""The location domain's errors that more than one of its modules raise."""

from __future__ import annotations


class ImportFileError(ValueError):
    """A list of collection points (or what it was read with) that cannot be imported at all;
    the message says why."""
