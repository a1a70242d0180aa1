"""The rules file (data/rules.toml): what each thing earns, and the levels and stages points reach.

Checked when loaded: a mistake in the file stops the service at start, not a person's award.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any


class RulesError(ValueError):
    """The rules or missions file is not as it must be."""


@dataclass(frozen=True, slots=True)
class EarnRule:
    points: int
    daily_cap: int


@dataclass(frozen=True, slots=True)
class ScanRule(EarnRule):
    unsure_points: int
    same_image_hours: float


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    name: str
    name_en: str
    from_level: int


@dataclass(frozen=True, slots=True)
class Level:
    level: int
    # None past the last level: there is no next one.
    points_to_next: int | None
    next_level_at: int | None


@dataclass(frozen=True, slots=True)
class Rules:
    scan: ScanRule
    feedback: EarnRule
    chat: EarnRule
    thresholds: tuple[int, ...]
    stages: tuple[Stage, ...]

    def level(self, points: int) -> Level:
        reached = sum(1 for threshold in self.thresholds if points >= threshold)
        if reached >= len(self.thresholds):
            return Level(reached, None, None)
        next_at = self.thresholds[reached]
        return Level(reached, next_at - points, next_at)

    def stage(self, level: int) -> Stage:
        return [stage for stage in self.stages if stage.from_level <= level][-1]


def count(table: dict[str, Any], key: str, where: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RulesError(f"{where}.{key} must be a whole number, 0 or more")
    return value


def _earn(table: dict[str, Any], where: str) -> EarnRule:
    return EarnRule(count(table, "points", where), count(table, "daily_cap", where))


def text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RulesError(f"{where}.{key} must be some text")
    return value


def _stage(entry: object, number: int) -> Stage:
    where = f"stages[{number}]"
    if not isinstance(entry, dict):
        raise RulesError(f"{where} must be a table")
    return Stage(
        text(entry, "id", where),
        text(entry, "name", where),
        text(entry, "name_en", where),
        count(entry, "from_level", where),
    )


def parse_rules(document: dict[str, Any]) -> Rules:
    scan = document.get("scan", {})
    thresholds = tuple(document.get("levels", {}).get("thresholds", ()))
    if not thresholds or thresholds[0] != 0:
        raise RulesError("levels.thresholds must start at 0")
    if any(not isinstance(t, int) for t in thresholds) or list(thresholds) != sorted(
        set(thresholds)
    ):
        raise RulesError("levels.thresholds must be whole numbers, rising")
    stages = tuple(
        _stage(entry, number) for number, entry in enumerate(document.get("stages", ()), 1)
    )
    if not stages or stages[0].from_level != 1:
        raise RulesError("the first stage must start at level 1")
    if [s.from_level for s in stages] != sorted({s.from_level for s in stages}):
        raise RulesError("stages must start at rising levels")
    if stages[-1].from_level > len(thresholds):
        raise RulesError("a stage starts past the last level")
    unsure = count(scan, "unsure_points", "scan")
    if unsure > count(scan, "points", "scan"):
        raise RulesError("scan.unsure_points must not exceed scan.points")
    hours = scan.get("same_image_hours")
    if not isinstance(hours, int | float) or hours < 0:
        raise RulesError("scan.same_image_hours must be a number of hours, 0 or more")
    return Rules(
        scan=ScanRule(
            count(scan, "points", "scan"),
            count(scan, "daily_cap", "scan"),
            unsure,
            float(hours),
        ),
        feedback=_earn(document.get("feedback", {}), "feedback"),
        chat=_earn(document.get("chat", {}), "chat"),
        thresholds=thresholds,
        stages=stages,
    )


def read_toml(path: Path | None, name: str) -> dict[str, Any]:
    if path is not None:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    return tomllib.loads(files("bunri.character").joinpath("data", name).read_text("utf-8"))


@cache
def load_rules(path: Path | None = None) -> Rules:
    """The rules file (the shipped one unless `path` names another)."""
    return parse_rules(read_toml(path, "rules.toml"))
