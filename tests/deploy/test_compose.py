"""docker-compose.yml against the code: what each container starts exists, every BUNRI_*
variable is a setting of the process that reads it, health checks, start-up order, volumes, the
queues the workers consume, and the env file. No Docker runs here: the file is parsed."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
from dotenv import dotenv_values

from bunri.messaging.kombu_topology import dead_letter_queues
from bunri.worker.settings import WorkerSettings
from info_api.settings import InfoApiSettings
from location_api.settings import LocationApiSettings
from tests.deploy import compose
from tests.deploy.compose import ENV_EXAMPLE, ROOT
from tests.deploy.dockerfiles import console_scripts
from tests.deploy.stack import (
    API_PORT_FIELDS,
    DEPLOYABLES,
    UnknownCommand,
    build_args,
    bunri_variables,
    container_env,
    filled_env_file,
    image_name,
    image_of,
    parse_bunri_cli,
    settings_field,
)

DEFINITIONS = ROOT / "infra" / "rabbitmq" / "definitions.json"
ONE_SHOT = {"migrate", "minio-init"}
SERVICES = sorted(compose.services())
BUNRI_SERVICES = sorted(DEPLOYABLES)
WORKERS = sorted(
    name
    for name, deployable in DEPLOYABLES.items()
    if issubclass(deployable.settings, WorkerSettings)
)
LONG_RUNNING = sorted(set(SERVICES) - ONE_SHOT)


@pytest.fixture
def clean_bunri_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BUNRI_* variable of this machine leaks into a settings class under test."""
    for name in list(os.environ):
        if name.startswith("BUNRI_"):
            monkeypatch.delenv(name)
    return monkeypatch


def command_of(service: str) -> list[str]:
    """entrypoint + command, as the container runs them (compose's, else the image's)."""
    definition = compose.services()[service]
    image = image_of(service)
    entrypoint = compose.argv(definition.get("entrypoint"))
    command = compose.argv(definition.get("command"))
    if entrypoint is None:
        entrypoint = image.entrypoint()
        if command is None:
            command = image.cmd()
    return [*entrypoint, *(command or [])]


def scripts_in_image(service: str) -> dict[str, str]:
    scripts: dict[str, str] = {}
    for member, _ in image_of(service).installed_members():
        scripts.update(console_scripts(member))
    return scripts


def test_every_service_built_here_is_a_known_deployable() -> None:
    built = {name for name, definition in compose.services().items() if "build" in definition}
    assert built == set(DEPLOYABLES), "add the service to tests/deploy/stack.py's DEPLOYABLES"
    args_of_image: dict[str, dict[str, str]] = {}
    for name in built:
        build = compose.services()[name]["build"]
        assert build["context"] == ".", f"{name}: the build context is the repository root"
        assert build["dockerfile"] == "Dockerfile", f"{name}: build the root Dockerfile"
        assert "image" in compose.services()[name], f"{name}: name its image"
        assert build_args(name)["MEMBER"] == DEPLOYABLES[name].member, name
        # Services that share an image name must build it alike, or the last build wins.
        args = args_of_image.setdefault(image_name(name), build_args(name))
        assert args == build_args(name), f"{name}: {image_name(name)} is built with other args"


@pytest.mark.parametrize("service", BUNRI_SERVICES)
def test_what_each_container_starts_is_installed_in_its_image(service: str) -> None:
    argv = command_of(service)
    scripts = scripts_in_image(service)
    assert argv[0] in scripts, f"{service} starts {argv[0]!r}; its image installs {sorted(scripts)}"
    module_name, _, function = scripts[argv[0]].partition(":")
    assert callable(getattr(importlib.import_module(module_name), function))
    if argv[0] == "bunri":
        parse_bunri_cli(argv[1:])
    else:
        assert argv[1:] == [], f"{service}: {argv[0]} takes no arguments here"


def test_the_jobs_and_ops_processes_run_the_bunri_commands_meant() -> None:
    assert command_of("migrate") == ["bunri", "db", "upgrade"]
    assert command_of("reaper") == ["bunri", "reaper"]
    assert command_of("outbox-relay") == ["bunri", "relay"]


def test_an_unknown_bunri_command_is_refused() -> None:
    """The CLI check above can fail."""
    with pytest.raises(UnknownCommand):
        parse_bunri_cli(["relays"])
    with pytest.raises(UnknownCommand):
        parse_bunri_cli(["worker", "alive", "heartbeat.json", "--max-ages", "5"])


@pytest.mark.parametrize("service", BUNRI_SERVICES)
def test_every_bunri_variable_is_a_setting_of_the_process_that_reads_it(service: str) -> None:
    settings = DEPLOYABLES[service].settings
    unknown = [
        name
        for name in bunri_variables(container_env(service))
        if settings_field(settings, name) is None
    ]
    assert unknown == [], f"{service} ({settings.__name__}) has no setting for {unknown}"


def test_the_setting_check_refuses_names_that_set_nothing() -> None:
    from auth_api.settings import AuthApiSettings
    from scan_api.settings import ScanApiSettings

    assert settings_field(ScanApiSettings, "BUNRI_SCAN_API_PORT") == "scan_api_port"
    assert settings_field(ScanApiSettings, "BUNRI_SCAN_API_PROT") is None
    assert settings_field(ScanApiSettings, "SCAN_API_PORT") is None
    assert (
        settings_field(AuthApiSettings, "BUNRI_OAUTH_KAKAO__CLIENT_ID") == "oauth_kakao.client_id"
    )
    assert settings_field(AuthApiSettings, "BUNRI_OAUTH_KAKAO__CLIENT") is None
    assert settings_field(AuthApiSettings, "BUNRI_SIGNING_KEY__PEM") is None


@pytest.mark.parametrize("service", BUNRI_SERVICES)
def test_each_process_accepts_its_environment(
    service: str, clean_bunri_environment: pytest.MonkeyPatch
) -> None:
    """The settings load from the container's environment (production mode: no development
    default is accepted, every value has the right type)."""
    env = container_env(service)
    for name, value in env.items():
        clean_bunri_environment.setenv(name, value)
    settings = DEPLOYABLES[service].settings()
    assert settings.environment.value == "production"


def test_workers_serve_metrics_and_send_task_events_where_safe() -> None:
    # Task events on the eventlet pool share the confirmed-publishing connection and have frozen
    # the storage worker before (bunri.worker.celery): only the prefork workers send them.
    events = {"storage-worker": "false", "ai-worker": "true", "character-worker": "true"}
    for worker in WORKERS:
        env = container_env(worker)
        assert env.get("BUNRI_METRICS_PORT") == "9100", worker
        assert env.get("BUNRI_WORKER_TASK_EVENTS") == events[worker], worker
        assert "9100" in compose.services()[worker].get("expose", []), worker
        for name in ("BUNRI_METRICS_PORT", "BUNRI_WORKER_TASK_EVENTS"):
            assert settings_field(DEPLOYABLES[worker].settings, name), (
                f"{DEPLOYABLES[worker].settings.__name__} has no setting for {name}"
            )


def test_non_bunri_containers_get_no_bunri_variables() -> None:
    for service in set(SERVICES) - set(DEPLOYABLES):
        assert bunri_variables(compose.environment(service, filled_env_file())) == {}, service


def test_environment_values_are_strings() -> None:
    """YAML turns true/8080 into a boolean/number; compose then rewrites them its own way."""
    for service, definition in compose.services().items():
        for name, value in (definition.get("environment") or {}).items():
            assert isinstance(value, str), f"{service}: quote {name}'s value"


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_every_long_running_container_has_a_health_check(service: str) -> None:
    definition = compose.services()[service]
    assert "healthcheck" in definition, f"{service} has no healthcheck"
    compose.healthcheck_argv(service)
    assert definition.get("restart") == "unless-stopped", service


@pytest.mark.parametrize("service", sorted(ONE_SHOT))
def test_one_shot_jobs_are_not_restarted(service: str) -> None:
    assert compose.services()[service].get("restart") == "no"


@pytest.mark.parametrize("service", sorted(set(BUNRI_SERVICES) - ONE_SHOT))
def test_bunri_health_checks_probe_the_process_itself(service: str) -> None:
    probe = compose.healthcheck_argv(service)
    env = container_env(service)
    if service in API_PORT_FIELDS:
        assert probe[:2] == ["python", "-c"], service
        compile(probe[2], f"{service} healthcheck", "exec")
        port = env["BUNRI_" + API_PORT_FIELDS[service].upper()]
        assert f"http://127.0.0.1:{port}/readyz" in probe[2], f"{service} listens on {port}"
        return
    assert probe[0] == "bunri", f"{service}: use `bunri worker alive`, never `celery inspect ping`"
    assert "celery" not in probe
    assert probe[0] in scripts_in_image(service), f"{service}: its image has no {probe[0]!r}"
    parse_bunri_cli(probe[1:])
    assert probe[1:3] == ["worker", "alive"], service
    assert probe[3] == env["BUNRI_HEARTBEAT_PATH"], f"{service} beats at another path"
    max_age = float(probe[probe.index("--max-age") + 1])
    settings = DEPLOYABLES[service].settings
    interval = settings.model_fields["heartbeat_interval_seconds"].default
    assert max_age >= 4 * interval, f"{service}: --max-age {max_age} s for beats every {interval} s"


def test_depends_on_names_services_with_conditions_they_can_meet() -> None:
    services = compose.services()
    for service, definition in services.items():
        depends_on = definition.get("depends_on") or {}
        assert isinstance(depends_on, dict), f"{service}: give each dependency a condition"
        for target, rule in depends_on.items():
            assert target in services, f"{service} depends on {target}, which does not exist"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", (service, target)
                assert target in ONE_SHOT, f"{target} never completes"


def test_start_up_order_has_no_cycle() -> None:
    services = compose.services()
    started: list[str] = []
    while len(started) < len(services):
        ready = [
            name
            for name, definition in services.items()
            if name not in started and set(definition.get("depends_on") or {}) <= set(started)
        ]
        assert ready, f"a cycle among {sorted(set(services) - set(started))}"
        started += ready
    assert started[-1] == "gateway"


@pytest.mark.parametrize("service", sorted(set(BUNRI_SERVICES) - {"migrate"}))
def test_what_needs_a_dependency_waits_for_it(service: str) -> None:
    env = container_env(service)
    depends_on = compose.services()[service].get("depends_on") or {}

    def waits(target: str, condition: str) -> None:
        assert depends_on.get(target, {}).get("condition") == condition, (
            f"{service} must wait for {target} ({condition})"
        )

    if "BUNRI_DATABASE_URL" in env:
        waits("migrate", "service_completed_successfully")
    broker = urlsplit(env.get("BUNRI_BROKER_URL", ""))
    if broker.hostname:
        waits(broker.hostname, "service_healthy")
    if env.get("BUNRI_S3_ENDPOINT_URL", "").startswith("http://minio:"):
        waits("minio-init", "service_completed_successfully")


def test_migrations_wait_for_postgresql() -> None:
    depends_on = compose.services()["migrate"]["depends_on"]
    assert depends_on["postgres"]["condition"] == "service_healthy"


def test_connection_urls_reach_the_services_with_their_credentials() -> None:
    env_file = filled_env_file()
    postgres = compose.environment("postgres", env_file)
    rabbitmq = compose.environment("rabbitmq", env_file)
    redis_command = [
        compose.interpolate(part, env_file) for part in compose.services()["redis"]["command"]
    ]
    redis_password = redis_command[redis_command.index("--requirepass") + 1]
    for service in BUNRI_SERVICES:
        env = container_env(service)
        database = urlsplit(env["BUNRI_DATABASE_URL"].replace("+asyncpg", ""))
        assert (database.hostname, database.port) == ("postgres", 5432), service
        assert database.username == postgres["POSTGRES_USER"], service
        assert database.password == postgres["POSTGRES_PASSWORD"], service
        assert database.path == f"/{postgres['POSTGRES_DB']}", service
        cache = urlsplit(env["BUNRI_REDIS_URL"])
        assert (cache.hostname, cache.port, cache.password) == ("redis", 6379, redis_password)
        if "BUNRI_BROKER_URL" in env:
            broker = urlsplit(env["BUNRI_BROKER_URL"])
            assert (broker.hostname, broker.port) == ("rabbitmq", 5672), service
            assert broker.username == rabbitmq["RABBITMQ_USER"], service
            assert broker.password == rabbitmq["RABBITMQ_PASSWORD"], service
            assert broker.path == "//", f"{service}: the vhost is /"


def test_postgresql_has_postgis_on_the_same_base() -> None:
    """Migration 0013 creates collection_points only where PostGIS is installable (else
    location-api answers 503). The image stays Alpine like postgres:17-alpine before it: a volume
    indexed under musl's collation and read under glibc's could return wrong index scans."""
    image = compose.services()["postgres"]["image"]
    repository, _, tag = image.partition(":")
    assert repository == "postgis/postgis", image
    assert re.fullmatch(r"17-3\.\d+-alpine", tag), f"{image}: PostgreSQL 17, PostGIS 3, Alpine"


def test_location_api_without_a_kakao_key_answers_our_own_points_only(
    clean_bunri_environment: pytest.MonkeyPatch,
) -> None:
    """.env.example leaves the key empty, and compose passes it on as an empty string."""
    env = container_env("location-api")
    assert env["BUNRI_KAKAO_REST_API_KEY"] == ""
    for name, value in env.items():
        clean_bunri_environment.setenv(name, value)
    assert LocationApiSettings().kakao_rest_api_key is None
    assert "BUNRI_BROKER_URL" not in env, "location-api publishes nothing"


def test_info_api_starts_without_a_broker_before_the_gateway(
    clean_bunri_environment: pytest.MonkeyPatch,
) -> None:
    """info-api answers from the guide data it ships; PostgreSQL and Redis serve its readiness
    only, and it publishes nothing: no broker, no wait for RabbitMQ. The gateway, which caches
    its answers, starts after it."""
    env = container_env("info-api")
    assert "BUNRI_BROKER_URL" not in env, "info-api publishes nothing"
    for name, value in env.items():
        clean_bunri_environment.setenv(name, value)
    assert InfoApiSettings().info_api_port == 8007
    services = compose.services()
    assert set(services["info-api"]["depends_on"]) == {"migrate", "redis"}
    assert services["gateway"]["depends_on"]["info-api"] == {"condition": "service_healthy"}


def test_worker_journals_live_on_named_volumes_of_their_own() -> None:
    declared = compose.compose_file()["volumes"]
    owners: dict[str, str] = {}
    for worker in WORKERS:
        journal = PurePosixPath(container_env(worker)["BUNRI_JOURNAL_PATH"])
        mounts = {
            mount.split(":")[1]: mount.split(":")[0]
            for mount in compose.services()[worker]["volumes"]
        }
        volume = mounts.get(str(journal.parent))
        assert volume is not None, f"{worker}: nothing is mounted at {journal.parent}"
        assert volume in declared, f"{worker}: its journal folder {journal.parent} is no volume"
        assert volume not in owners, f"{worker} and {owners.get(volume)} share a journal volume"
        owners[volume] = worker
        runs = " ".join(" ".join(run.values) for run in image_of(worker).runtime.all("RUN"))
        made = "install -d -o bunri -g bunri" in runs and str(journal.parent) in runs
        assert made, (
            f"{worker}'s image must create {journal.parent} owned by its user: a fresh named "
            "volume takes that owner"
        )
        heartbeat = container_env(worker)["BUNRI_HEARTBEAT_PATH"]
        assert not heartbeat.startswith(str(journal.parent)), (
            f"{worker}: a heartbeat on a volume survives the container that wrote it"
        )


def test_data_lives_on_named_volumes() -> None:
    declared = compose.compose_file()["volumes"]
    for service, target in {
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "rabbitmq": "/var/lib/rabbitmq",
        "minio": "/data",
        "ai-worker": "/var/cache/bunri/models",
    }.items():
        mounts = {
            mount.split(":")[1]: mount.split(":")[0]
            for mount in compose.services()[service]["volumes"]
        }
        assert mounts.get(target) in declared, f"{service}: {target} is not on a named volume"


def test_bind_mounts_name_files_that_exist() -> None:
    for service, definition in compose.services().items():
        for mount in definition.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{service} mounts {source}, which is missing"


def test_rabbitmq_node_keeps_its_name() -> None:
    """The node's data directory is named after it: a recreated container must find it."""
    assert compose.services()["rabbitmq"]["hostname"] == "rabbitmq"


def _launch(service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The argv a worker's entry point execs (os.execv is caught, nothing is started)."""
    # Against a copy of the environment: the AI worker's launcher names its metrics folder in it
    # for the celery it execs, which must not outlive the test (every later in-process /metrics
    # scrape in this pytest worker would read that folder instead of the process's own figures).
    monkeypatch.setattr(os, "environ", os.environ.copy())
    for name, value in container_env(service).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BUNRI_STATE_DIR", str(tmp_path))
    captured: list[list[str]] = []

    class Execed(Exception):
        pass

    def fake_execv(path: str, argv: list[str]) -> None:
        captured.append(list(argv))
        raise Execed()

    monkeypatch.setattr(os, "execv", fake_execv)
    script = scripts_in_image(service)[command_of(service)[0]]
    module_name, _, function = script.partition(":")
    with pytest.raises(Execed):
        getattr(importlib.import_module(module_name), function)()
    return captured[0]


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def _app_task_queues(app_module: str, env: dict[str, str]) -> dict[str, str]:
    """Task name -> queue, for every task the Celery app registers (in a process of its own:
    importing the app configures Celery globally)."""
    code = (
        "import importlib, json, sys\n"
        f"module = importlib.import_module({app_module!r})\n"
        "app = module.app\n"
        "app.loader.import_default_modules()\n"
        "routes = app.conf.task_routes\n"
        "tasks = [name for name in app.tasks if not name.startswith('celery.')]\n"
        "print(json.dumps({name: routes[name]['queue'] for name in tasks}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{app_module} does not import:\n{result.stderr}"
    queues: dict[str, str] = json.loads(result.stdout.strip().splitlines()[-1])
    return queues


@pytest.mark.parametrize(
    ("service", "pool"),
    [("storage-worker", "eventlet"), ("ai-worker", "prefork"), ("character-worker", "prefork")],
)
def test_workers_start_celery_on_their_pool_and_consume_queues_the_broker_defines(
    service: str, pool: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    argv = _launch(service, monkeypatch, tmp_path)
    assert argv[1:3] == ["-m", "celery"], argv
    assert _option(argv, "-P") == pool
    assert int(_option(argv, "-c")) >= 1
    consumed = set(_option(argv, "-Q").split(","))
    defined = {queue["name"] for queue in json.loads(DEFINITIONS.read_text())["queues"]}
    assert consumed <= defined, f"{service} consumes {consumed - defined}, not in definitions.json"
    app_module = _option(argv, "-A")
    env = {**container_env(service), "BUNRI_STATE_DIR": str(tmp_path)}
    routed = _app_task_queues(app_module, env)
    assert routed, f"{app_module} registers no task"
    assert set(routed.values()) == consumed, (
        f"{service} consumes {sorted(consumed)}; its tasks are routed to {routed}"
    )


def test_the_reaper_consumes_every_dead_letter_queue_of_definitions_json() -> None:
    defined = {
        queue["name"]
        for queue in json.loads(DEFINITIONS.read_text())["queues"]
        if queue["name"].startswith("dlq.")
    }
    assert {queue.name for queue in dead_letter_queues()} == defined


def _env_example() -> dict[str, str | None]:
    return dict(dotenv_values(ENV_EXAMPLE))


def _documented_in_env_example() -> set[str]:
    """Variables .env.example defines, or shows commented out (optional ones)."""
    names = set(_env_example())
    for line in ENV_EXAMPLE.read_text().splitlines():
        stripped = line.lstrip("# ")
        name, equals, _ = stripped.partition("=")
        if equals and name.isupper() and " " not in name:
            names.add(name)
    return names


def test_env_example_defines_every_required_variable() -> None:
    required = {reference.name for reference in compose.references() if reference.required}
    missing = required - set(_env_example())
    assert missing == set(), f"docker-compose.yml requires {sorted(missing)}; add to .env.example"


def test_env_example_documents_every_variable_compose_reads() -> None:
    read = {reference.name for reference in compose.references()}
    undocumented = read - _documented_in_env_example()
    assert undocumented == set(), f"document {sorted(undocumented)} in .env.example"


def test_every_env_example_variable_is_used() -> None:
    read = {reference.name for reference in compose.references()}
    unused = _documented_in_env_example() - read
    assert unused == set(), f".env.example sets {sorted(unused)}; docker-compose.yml never reads it"


def test_env_example_bunri_variables_reach_a_process_that_reads_them() -> None:
    """A BUNRI_* line in .env.example is passed, under its own name, to some Bunri container
    whose settings have that field (compose passes nothing from .env by itself)."""
    for name in sorted(n for n in _documented_in_env_example() if n.startswith("BUNRI_")):
        readers = [
            service
            for service in BUNRI_SERVICES
            if f"${{{name}" in str(compose.services()[service].get("environment", {}).get(name, ""))
            and settings_field(DEPLOYABLES[service].settings, name)
        ]
        if name == "BUNRI_IMAGE_TAG":
            continue  # names the images, not a setting
        assert readers, f"{name} from .env.example reaches no Bunri process that reads it"


def test_env_example_commits_no_secret() -> None:
    for name, value in _env_example().items():
        if any(word in name for word in ("PASSWORD", "SECRET", "SIGNING_KEY", "API_KEY")):
            assert not value, f".env.example must leave {name} empty"


def test_compose_refuses_to_start_without_the_secrets() -> None:
    for secret in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "RABBITMQ_PASSWORD",
        "MINIO_ROOT_PASSWORD",
        "BUNRI_S3_SECRET_ACCESS_KEY",
        "FLOWER_PASSWORD",
        "BUNRI_SIGNING_KEY",
    ):
        env: dict[str, Any] = dict(filled_env_file())
        env[secret] = ""
        with pytest.raises(compose.InterpolationError, match=secret):
            _interpolate_everything(env)


def _interpolate_everything(env: dict[str, Any]) -> None:
    for service in SERVICES:
        compose.environment(service, env)
        for part in compose.services()[service].get("command") or []:
            compose.interpolate(part, env)
