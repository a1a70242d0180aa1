"""The EC2 instance metadata service, IMDSv2 (the only version the launch templates allow)."""

from __future__ import annotations

import urllib.error
import urllib.request

BASE = "http://169.254.169.254/latest"


def _token() -> str:
    request = urllib.request.Request(  # noqa: S310 (a fixed link-local http URL)
        f"{BASE}/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        token: str = response.read().decode()
    return token


def metadata(path: str) -> str | None:
    """The metadata item's text, or None where the instance has no such item (404)."""
    request = urllib.request.Request(  # noqa: S310
        f"{BASE}/meta-data/{path}", headers={"X-aws-ec2-metadata-token": _token()}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            text: str = response.read().decode()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise
    return text
