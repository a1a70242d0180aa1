"""The scripts cloud-init installs on the AWS nodes (infra/terraform/modules/cloud_init/files), run
for real where they can run here: against moto's server mode on loopback (SSM, CloudWatch), with
the environment file read back by bash, whose double quotes unescape the same four characters
systemd's EnvironmentFile= does."""

from __future__ import annotations

import grp
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.deploy.compose import ROOT
from tests.support.servers import free_port, run_process

SCRIPTS = ROOT / "infra" / "terraform" / "modules" / "cloud_init" / "files"
DEFINITIONS = ROOT / "infra" / "rabbitmq" / "definitions.json"
REGION = "ap-northeast-2"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ+not+a+real+key+at+all+0123456789abcd\n"
    "-----END PRIVATE KEY-----\n"
)


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def aws_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    command = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with run_process(command, env={}, ready_url=f"{url}/moto-api/", log_path=log):
        yield url


def ssm_client(endpoint: str) -> Any:
    return boto3.client(
        "ssm",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def cloudwatch_client(endpoint: str) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def sourced_by_bash(env_file: Path, names: list[str]) -> dict[str, str | None]:
    script = f'set -a; . "{env_file}"; set +a; exec "{sys.executable}" -c "$0" "$@"'
    program = (
        "import json, os, sys; print(json.dumps({n: os.environ.get(n) for n in sys.argv[1:]}))"
    )
    result = subprocess.run(
        ["bash", "-c", script, program, *names],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    values: dict[str, str | None] = json.loads(result.stdout)
    return values


def test_fetch_env_writes_its_paths_settings_for_systemd_and_bash(
    aws_endpoint: str, tmp_path: Path
) -> None:
    prefix = f"/bunri/test-{uuid.uuid4().hex[:8]}"
    awkward = 'postgresql+asyncpg://bunri:p$w"o`r\\d@10.40.10.20:5432/bunri'
    parameters = {
        f"{prefix}/common/BUNRI_DATABASE_URL": (awkward, "SecureString"),
        f"{prefix}/common/BUNRI_LOG_JSON": ("true", "String"),
        f"{prefix}/api/BUNRI_LOG_JSON": ("false", "String"),  # the role's path wins
        f"{prefix}/api/BUNRI_SIGNING_KEY": (PEM, "SecureString"),
        f"{prefix}/api/deeper/BUNRI_NOT_READ": ("x", "String"),  # not recursive
        f"{prefix}/worker-ai/BUNRI_AI_WORKER_CONCURRENCY": ("2", "String"),  # another role's
    }
    ssm = ssm_client(aws_endpoint)
    for name, (value, kind) in parameters.items():
        ssm.put_parameter(Name=name, Value=value, Type=kind)

    env_file = tmp_path / "etc" / "bunri.env"
    files_dir = tmp_path / "etc" / "files"
    subprocess.run(
        [sys.executable, str(SCRIPTS / "fetch_env.py")],
        check=True,
        env={
            "PATH": os.environ["PATH"],
            "NODE_PARAMETER_PATHS": f"{prefix}/common {prefix}/api",
            "NODE_ENV_FILE": str(env_file),
            "NODE_ENV_FILES_DIR": str(files_dir),
            "NODE_ENV_GROUP": grp.getgrgid(os.getgid()).gr_name,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        },
    )

    names = [
        "BUNRI_DATABASE_URL",
        "BUNRI_LOG_JSON",
        "BUNRI_SIGNING_KEY",
        "BUNRI_SIGNING_KEY_FILE",
        "BUNRI_NOT_READ",
        "BUNRI_AI_WORKER_CONCURRENCY",
    ]
    values = sourced_by_bash(env_file, names)
    assert values["BUNRI_DATABASE_URL"] == awkward
    assert values["BUNRI_LOG_JSON"] == "false"
    # A multi-line value cannot sit in an environment file: it becomes a file, passed as _FILE.
    assert values["BUNRI_SIGNING_KEY"] is None
    assert values["BUNRI_SIGNING_KEY_FILE"] == str(files_dir / "BUNRI_SIGNING_KEY")
    assert Path(values["BUNRI_SIGNING_KEY_FILE"]).read_text() == PEM
    assert values["BUNRI_NOT_READ"] is None
    assert values["BUNRI_AI_WORKER_CONCURRENCY"] is None
    for written in (env_file, files_dir / "BUNRI_SIGNING_KEY"):
        assert written.stat().st_mode & 0o777 == 0o640, f"{written} is readable by others"


def test_fetch_env_refuses_a_parameter_that_is_no_variable_name(tmp_path: Path) -> None:
    fetch_env = load_script("fetch_env")
    with pytest.raises(ValueError, match="not a valid environment variable name"):
        fetch_env.environment_file({"bunri-s3-bucket": "x"}, tmp_path)


def test_queue_metrics_are_accepted_for_every_queue_of_the_topology(aws_endpoint: str) -> None:
    queue_metrics = load_script("queue_metrics")
    queues = [queue["name"] for queue in json.loads(DEFINITIONS.read_text())["queues"]]
    depths = dict.fromkeys(queues, 0) | {"scan.image_upload": 1234}
    deployment = f"bunri-test-{uuid.uuid4().hex[:8]}"
    cloudwatch = cloudwatch_client(aws_endpoint)
    cloudwatch.put_metric_data(
        Namespace="Bunri/RabbitMQ", MetricData=queue_metrics.metric_data(deployment, depths)
    )
    listed = cloudwatch.list_metrics(
        Namespace="Bunri/RabbitMQ",
        MetricName=queue_metrics.METRIC_NAME,
        Dimensions=[{"Name": "Deployment", "Value": deployment}],
    )["Metrics"]
    published = {
        next(d["Value"] for d in metric["Dimensions"] if d["Name"] == "Queue") for metric in listed
    }
    assert published == set(queues), "every queue, idle ones too, so that sums always have data"
