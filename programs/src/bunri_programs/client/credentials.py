"""Where the command line keeps its tokens: one entry per base URL, readable by the owner only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def credentials_path() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "bunri" / "credentials.json"


def load_tokens(base_url: str) -> dict[str, Any] | None:
    path = credentials_path()
    if not path.exists():
        return None
    entry = json.loads(path.read_text()).get(base_url.rstrip("/"))
    return entry if isinstance(entry, dict) else None


def save_tokens(base_url: str, tokens: dict[str, Any]) -> None:
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = json.loads(path.read_text()) if path.exists() else {}
    stored[base_url.rstrip("/")] = {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(stored, indent=2))
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def demo_login_path(state_dir: Path) -> Path:
    return state_dir / "demo-login.json"
