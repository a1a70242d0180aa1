"""The architecture as import contracts (pyproject.toml, [tool.importlinter]; `make lint` runs
`lint-imports`): programs stand on the services and workers, which stand on the library; services
and workers do not import each other; the library imports none of them and has no import cycle.
The real tree keeps every contract, and each contract fails on the import it forbids: lint-imports
reads a copy of one package, put first on the path, with that one import added."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.compose import ROOT
from tests.deploy.packages import MEMBERS

CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(
    *arguments: str, cwd: Path, first_on_path: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # one contract, one line
    if first_on_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(first_on_path), env.get("PYTHONPATH")])
        )
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG), *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _configuration() -> dict[str, Any]:
    found: dict[str, Any] = tomllib.loads(CONFIG.read_text())["tool"]["importlinter"]
    return found


def test_every_member_is_under_contract() -> None:
    """A new member (the next domain's service) joins the contracts, or this fails."""
    members = {package for _, package in MEMBERS.values()}
    configuration = _configuration()
    assert set(configuration["root_packages"]) == members
    contracts = {contract["id"]: contract for contract in configuration["contracts"]}
    deployables = members - {"bunri", "bunri_programs"}
    top, middle, bottom = contracts["layers"]["layers"]
    assert (top, bottom) == ("bunri_programs", "bunri")
    assert {name.strip() for name in middle.split(":")} == deployables
    assert set(contracts["independent-deployables"]["modules"]) == deployables
    assert set(contracts["library-floor"]["forbidden_modules"]) == members - {"bunri"}
    assert contracts["library-acyclic"]["ancestors"] == ["bunri"]


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    contracts = _configuration()["contracts"]
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout, result.stdout


# (contract, package copied, module in it, the line appended: a new module or an existing one's
# last line). Each is the mistake its contract exists for.
WRONG_IMPORTS = {
    "library-floor": ("bunri", "wrong.py", "import scan_api\n"),
    "layers": ("scan_api", "wrong.py", "from bunri_programs import cli\n"),
    "independent-deployables": ("storage_worker", "wrong.py", "from scan_api import schemas\n"),
    # The cycle settings.py had: settings -> messaging.filesystem, beside messaging -> settings.
    "library-acyclic": (
        "bunri",
        "settings.py",
        "from bunri.messaging.filesystem import use_atomic_filesystem_transport\n",
    ),
}


@pytest.mark.parametrize("contract", sorted(WRONG_IMPORTS))
def test_a_wrong_import_breaks_its_contract(contract: str, tmp_path: Path) -> None:
    package, module, line = WRONG_IMPORTS[contract]
    spec = importlib.util.find_spec(package)
    assert spec is not None, package
    assert spec.submodule_search_locations, package
    copy = tmp_path / "path" / package
    shutil.copytree(
        spec.submodule_search_locations[0], copy, ignore=shutil.ignore_patterns("__pycache__")
    )
    # The copy as it is keeps the contract: what breaks it below is the one line.
    kept = lint_imports("--contract", contract, cwd=tmp_path, first_on_path=copy.parent)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    with (copy / module).open("a") as file:
        file.write(line)
    broken = lint_imports("--contract", contract, cwd=tmp_path, first_on_path=copy.parent)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "BROKEN" in broken.stdout
    assert "Contracts: 0 kept, 1 broken." in broken.stdout, broken.stdout
