"""infra/terraform read with an HCL2 parser (python-hcl2): each module's blocks merged across its
.tf files, and the few expression helpers the checks need. Expressions stay strings (`${...}`);
literal strings come back unquoted."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions

from tests.deploy.compose import ROOT

TERRAFORM_DIR = ROOT / "infra" / "terraform"
TFVARS_EXAMPLE = TERRAFORM_DIR / "terraform.tfvars.example"
_OPTIONS = SerializationOptions(
    strip_string_quotes=True, with_comments=False, explicit_blocks=False
)

# Arguments of a `module` block that are Terraform's, not the called module's variables.
MODULE_META_ARGUMENTS = {"source", "version", "for_each", "count", "depends_on", "providers"}

Body = dict[str, Any]


def parse_hcl(text: str) -> dict[str, Any]:
    parsed: dict[str, Any] = hcl2.loads(text, serialization_options=_OPTIONS)
    return parsed


@dataclass(frozen=True)
class Module:
    """One Terraform module: a folder of .tf files."""

    path: Path
    files: tuple[tuple[str, dict[str, Any]], ...]  # (file name, parsed file)

    @property
    def name(self) -> str:
        return "root" if self.path == TERRAFORM_DIR else self.path.name

    def text(self) -> str:
        return "\n".join((self.path / name).read_text() for name, _ in self.files)

    def _labelled(self, kind: str) -> dict[str, Body]:
        found: dict[str, Body] = {}
        for _, parsed in self.files:
            for entry in parsed.get(kind, []):
                for label, body in entry.items():
                    assert label not in found, f"{self.name}: {kind} {label} declared twice"
                    found[label] = body
        return found

    def _typed(self, kind: str, type_name: str) -> dict[str, Body]:
        found: dict[str, Body] = {}
        for _, parsed in self.files:
            for entry in parsed.get(kind, []):
                for name, body in entry.get(type_name, {}).items():
                    found[name] = body
        return found

    def variables(self) -> dict[str, Body]:
        return self._labelled("variable")

    def outputs(self) -> dict[str, Body]:
        return self._labelled("output")

    def module_calls(self) -> dict[str, Body]:
        return self._labelled("module")

    def locals(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for _, parsed in self.files:
            for block in parsed.get("locals", []):
                found.update(block)
        return found

    def resources(self, type_name: str) -> dict[str, Body]:
        return self._typed("resource", type_name)

    def data_sources(self, type_name: str) -> dict[str, Body]:
        return self._typed("data", type_name)

    def called(self, call: Body) -> Module:
        """The module a `module` block's source names (local sources only)."""
        source = call["source"]
        assert source.startswith(("./", "../")), f"not a local source: {source}"
        return module_at((self.path / source).resolve())


@cache
def module_at(path: Path) -> Module:
    files = tuple((file.name, parse_hcl(file.read_text())) for file in sorted(path.glob("*.tf")))
    assert files, f"no .tf file in {path}"
    return Module(path, files)


def root() -> Module:
    return module_at(TERRAFORM_DIR)


def modules() -> list[Module]:
    """The root module and every module under modules/."""
    children = sorted(folder for folder in (TERRAFORM_DIR / "modules").iterdir() if folder.is_dir())
    return [root(), *(module_at(folder.resolve()) for folder in children)]


def blocks_named(body: Any, name: str) -> Iterator[Body]:
    """Every nested block called `name` in a resource or data body, `dynamic "name"` content too."""
    if not isinstance(body, dict):
        return
    yield from body.get(name, [])
    for dynamic in body.get("dynamic", []):
        yield from dynamic.get(name, {}).get("content", [])


def reference(expression: Any, kind: str) -> str | None:
    """`NAME` when the expression is exactly `${<kind>.NAME}`, e.g. reference("${var.x}", "var")."""
    if not isinstance(expression, str):
        return None
    match = re.fullmatch(rf"\$\{{{kind}\.([A-Za-z_][A-Za-z0-9_-]*)\}}", expression)
    return match[1] if match else None


def string_literals(expression: str) -> list[str]:
    """The quoted string literals inside an expression, e.g. toset(["80", "443"]) -> 80, 443."""
    return re.findall(r'"((?:[^"\\]|\\.)*)"', expression)


def terraform_binary() -> str | None:
    """A real terraform (or OpenTofu) executable: this environment's own first, then PATH."""
    here = Path(sys.executable).parent
    for name in ("terraform", "tofu"):
        candidate = here / name
        if candidate.exists():
            return str(candidate)
        found = shutil.which(name)
        if found:
            return found
    return None
