"""The small files compose mounts into stock images: RabbitMQ's entry script and configuration,
MinIO's bucket job and policy, and scripts/compose-env, which makes the .env."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from auth_api.keys import load_key_ring
from auth_api.settings import AuthApiSettings
from bunri.messaging.topology import definitions
from tests.deploy import compose
from tests.deploy.compose import ROOT
from tests.deploy.stack import filled_env_file

RABBITMQ = ROOT / "infra" / "rabbitmq"
ENTRY_SCRIPT = RABBITMQ / "compose-entrypoint.sh"
MINIO = ROOT / "infra" / "minio"


def mounts(service: str) -> dict[str, Path]:
    """Container path -> repository file, for the service's bind mounts."""
    found = {}
    for mount in compose.services()[service].get("volumes", []):
        source, target = mount.split(":")[:2]
        if source.startswith("./"):
            found[target] = (ROOT / source).resolve()
    return found


def script_defaults(script: Path) -> dict[str, str]:
    """`${NAME:-default}` in a shell script."""
    return dict(re.findall(r"\$\{(\w+):-([^}]*)\}", script.read_text()))


def run_entry_script(tmp_path: Path, user: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(ENTRY_SCRIPT), "echo", "handed over"],
        env={
            "PATH": "/usr/bin:/bin",
            "RABBITMQ_USER": user,
            "RABBITMQ_PASSWORD": password,
            "RABBITMQ_TOPOLOGY_FILE": str(RABBITMQ / "definitions.json"),
            "RABBITMQ_DEFINITIONS_FILE": str(tmp_path / "definitions.json"),
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_rabbitmq_imports_the_topology_with_the_platforms_user(tmp_path: Path) -> None:
    result = run_entry_script(tmp_path, "bunri", "s3cret-Pass.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "handed over", "the script must exec the image's entry point"
    imported = json.loads((tmp_path / "definitions.json").read_text())
    assert imported["users"] == [
        {"name": "bunri", "password": "s3cret-Pass.1", "tags": "administrator"}
    ]
    assert imported["permissions"] == [
        {"user": "bunri", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]
    topology = {
        key: value for key, value in imported.items() if key not in ("users", "permissions")
    }
    assert topology == definitions()
    assert (tmp_path / "definitions.json").stat().st_mode & 0o077 == 0, "it holds a password"


@pytest.mark.parametrize(("user", "password"), [("bunri", ""), ("bunri", 'a"b'), ("a b", "x")])
def test_rabbitmq_refuses_credentials_that_would_break_the_file_or_the_urls(
    tmp_path: Path, user: str, password: str
) -> None:
    result = run_entry_script(tmp_path, user, password)
    assert result.returncode != 0
    assert not (tmp_path / "definitions.json").exists()


def test_rabbitmq_reads_what_the_entry_script_writes() -> None:
    conf = (RABBITMQ / "rabbitmq.conf").read_text()
    (loaded,) = re.findall(r"^definitions\.local\.path\s*=\s*(\S+)", conf, re.MULTILINE)
    defaults = script_defaults(ENTRY_SCRIPT)
    assert defaults["RABBITMQ_DEFINITIONS_FILE"] == loaded
    service = compose.services()["rabbitmq"]
    files = mounts("rabbitmq")
    assert files[defaults["RABBITMQ_TOPOLOGY_FILE"]] == (RABBITMQ / "definitions.json").resolve()
    assert files["/etc/rabbitmq/rabbitmq.conf"] == (RABBITMQ / "rabbitmq.conf").resolve()
    script_in_container = next(path for path, file in files.items() if file == ENTRY_SCRIPT)
    assert service["entrypoint"] == ["/bin/sh", script_in_container]
    assert service["command"] == ["docker-entrypoint.sh", "rabbitmq-server"]
    assert {"RABBITMQ_USER", "RABBITMQ_PASSWORD"} <= set(service["environment"])


def test_rabbitmq_enables_management_and_prometheus() -> None:
    files = mounts("rabbitmq")
    plugins = files["/etc/rabbitmq/enabled_plugins"].read_text()
    match = re.fullmatch(r"\s*\[(?P<names>[a-z_,\s]*)\]\.\s*", plugins)
    assert match, "enabled_plugins is an Erlang list ending with a full stop"
    names = {name.strip() for name in match["names"].split(",")}
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= names
    conf = (RABBITMQ / "rabbitmq.conf").read_text()
    for port_key, port in (("management.tcp.port", "15672"), ("prometheus.tcp.port", "15692")):
        assert re.search(rf"^{re.escape(port_key)}\s*=\s*{port}$", conf, re.MULTILINE)
    service = compose.services()["rabbitmq"]
    assert "15692" in service["expose"]
    assert "127.0.0.1:15672:15672" in service["ports"]


def test_minio_init_uses_only_what_compose_gives_it() -> None:
    script = (MINIO / "init.sh").read_text()
    used = set(re.findall(r"\$\{?([A-Z_]+)\}?", script))
    given = set(compose.services()["minio-init"]["environment"])
    assert used <= given, f"init.sh reads {sorted(used - given)}, which compose does not set"
    assert mounts("minio-init")["/init"] == MINIO.resolve()
    assert "/init/bunri-scans-policy.json" in script


def test_the_platforms_s3_account_is_allowed_its_bucket_only() -> None:
    bucket = compose.services()["minio-init"]["environment"]["BUCKET"]
    for service in ("scan-api", "my-api", "storage-worker"):
        assert compose.services()[service]["environment"]["BUNRI_S3_BUCKET"] == bucket
    policy = json.loads((MINIO / "bunri-scans-policy.json").read_text())
    resources = {
        resource for statement in policy["Statement"] for resource in statement["Resource"]
    }
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    actions = {action for statement in policy["Statement"] for action in statement["Action"]}
    # Reads (scan-api, my-api), writes, deletes and lists (the storage worker: images, profile
    # photos, account erasure).
    assert actions == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
    }
    assert {"APP_ACCESS_KEY", "APP_SECRET_KEY"} <= set(
        compose.services()["minio-init"]["environment"]
    )
    init = compose.environment("minio-init", filled_env_file())
    worker = compose.environment("storage-worker", filled_env_file())
    assert init["APP_ACCESS_KEY"] == worker["BUNRI_S3_ACCESS_KEY_ID"]
    assert init["APP_SECRET_KEY"] == worker["BUNRI_S3_SECRET_ACCESS_KEY"]
    assert init["MINIO_ROOT_PASSWORD"] != worker["BUNRI_S3_SECRET_ACCESS_KEY"]


def test_compose_env_fills_every_secret_with_values_that_work(tmp_path: Path) -> None:
    env = filled_env_file()
    for reference in compose.references():
        if reference.required:
            assert env.get(reference.name), f"scripts/compose-env leaves {reference.name} empty"
    for name, value in env.items():
        if name.endswith(("_PASSWORD", "_SECRET_ACCESS_KEY")):
            assert re.fullmatch(r"[0-9a-f]{48}", value), name  # safe in URLs and JSON
    settings = AuthApiSettings(environment="production", signing_key=env["BUNRI_SIGNING_KEY"])
    assert load_key_ring(settings).signing is not None
    result = run_entry_script(tmp_path, env["RABBITMQ_USER"], env["RABBITMQ_PASSWORD"])
    assert result.returncode == 0, result.stderr


def test_compose_env_never_overwrites(tmp_path: Path) -> None:
    existing = tmp_path / ".env"
    existing.write_text("POSTGRES_PASSWORD=mine\n")
    result = subprocess.run(
        [str(ROOT / "scripts" / "compose-env"), str(existing)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert existing.read_text() == "POSTGRES_PASSWORD=mine\n"
