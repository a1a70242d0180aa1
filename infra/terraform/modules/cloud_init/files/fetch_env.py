#!/usr/bin/python3
"""Write this node's settings from SSM Parameter Store into a systemd environment file.

Every parameter under each path of NODE_PARAMETER_PATHS (space-separated; later paths win) becomes
one variable named after the parameter's last segment: /bunri/prod/api/BUNRI_S3_BUCKET becomes
BUNRI_S3_BUCKET. SecureStrings are decrypted. A multi-line value (a PEM key) cannot live in an
environment file: it is written to /etc/bunri/files/NAME and passed as NAME_FILE instead
(BUNRI_SIGNING_KEY becomes BUNRI_SIGNING_KEY_FILE, which auth-api reads).
"""

from __future__ import annotations

import grp
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
# Inside double quotes systemd unescapes exactly these four characters.
SYSTEMD_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`"})


def read_parameters(paths: Iterable[str]) -> dict[str, str]:
    import boto3  # imported here so that the formatting helpers below need no AWS SDK

    client = boto3.client("ssm")
    values: dict[str, str] = {}
    for path in paths:
        pages = client.get_paginator("get_parameters_by_path").paginate(
            Path=path, Recursive=False, WithDecryption=True
        )
        for page in pages:
            for parameter in page["Parameters"]:
                values[parameter["Name"].rsplit("/", 1)[-1]] = parameter["Value"]
    return values


def environment_file(values: Mapping[str, str], files_dir: Path) -> tuple[str, dict[Path, str]]:
    """The environment file's text, and the files that multi-line values go to."""
    lines: list[str] = []
    files: dict[Path, str] = {}
    for name in sorted(values):
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"parameter {name!r} is not a valid environment variable name")
        value = values[name]
        if "\n" in value:
            file = files_dir / name
            files[file] = value if value.endswith("\n") else value + "\n"
            name, value = f"{name}_FILE", str(file)
        lines.append(f'{name}="{value.translate(SYSTEMD_ESCAPES)}"')
    return "".join(line + "\n" for line in lines), files


def write_private(path: Path, text: str, group_id: int) -> None:
    """Replace the file atomically, readable by root and the bunri group only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chown(temporary, 0, group_id)
    os.replace(temporary, path)


def main() -> None:
    paths = os.environ["NODE_PARAMETER_PATHS"].split()
    target = Path(os.environ.get("NODE_ENV_FILE", "/etc/bunri/bunri.env"))
    files_dir = Path(os.environ.get("NODE_ENV_FILES_DIR", "/etc/bunri/files"))
    group_id = grp.getgrnam(os.environ.get("NODE_ENV_GROUP", "root")).gr_gid
    values = read_parameters(paths)
    text, files = environment_file(values, files_dir)
    for file, content in files.items():
        write_private(file, content, group_id)
    write_private(target, text, group_id)
    sys.stderr.write(f"{target}: {len(values)} settings from {' '.join(paths)}\n")


if __name__ == "__main__":
    main()
