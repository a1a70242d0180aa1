"""The missions file (data/missions.toml): what counts towards each mission, and what it pays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bunri.character.rules import RulesError, count, read_toml, text
from bunri.messaging.topology import CHAT_ANSWERED, SCAN_COMPLETED, SCAN_FEEDBACK

PERIODS = ("daily", "weekly")
EVENT_TYPES = (SCAN_COMPLETED, SCAN_FEEDBACK, CHAT_ANSWERED)


@dataclass(frozen=True, slots=True)
class Mission:
    id: str
    period: str
    event: str
    when: Mapping[str, Any]
    distinct: str | None
    goal: int
    points: int
    title: str
    title_en: str

    def counts(self, event_type: str, data: Mapping[str, Any]) -> bool:
        """Whether an event of `event_type` with `data` counts towards this mission."""
        if event_type != self.event:
            return False
        for field, wanted in self.when.items():
            value = data.get(field)
            if isinstance(value, list):
                if wanted not in value:
                    return False
            elif value != wanted:
                return False
        return self.distinct is None or bool(data.get(self.distinct))


@dataclass(frozen=True, slots=True)
class Missions:
    all: tuple[Mission, ...]

    def get(self, mission_id: str) -> Mission | None:
        return next((mission for mission in self.all if mission.id == mission_id), None)

    def for_event(self, event_type: str, data: Mapping[str, Any]) -> list[Mission]:
        return [mission for mission in self.all if mission.counts(event_type, data)]


def _mission(entry: dict[str, Any], where: str) -> Mission:
    when = entry.get("when", {})
    if not isinstance(when, dict):
        raise RulesError(f"{where}: when must be a table of field = value")
    distinct = entry.get("distinct")
    if distinct is not None and not isinstance(distinct, str):
        raise RulesError(f"{where}: distinct must name a field")
    mission = Mission(
        id=text(entry, "id", where),
        period=text(entry, "period", where),
        event=text(entry, "event", where),
        when=when,
        distinct=distinct,
        goal=count(entry, "goal", where),
        points=count(entry, "points", where),
        title=text(entry, "title", where),
        title_en=text(entry, "title_en", where),
    )
    if mission.period not in PERIODS:
        raise RulesError(f"{where}: period must be one of {PERIODS}")
    if mission.event not in EVENT_TYPES:
        raise RulesError(f"{where}: event must be one of {EVENT_TYPES}")
    if mission.goal < 1:
        raise RulesError(f"{where}: goal must be 1 or more")
    if len(mission.id) > 64:
        raise RulesError(f"{where}: the id must be 64 characters at most")
    return mission


def parse_missions(document: dict[str, Any]) -> Missions:
    missions = []
    for number, entry in enumerate(document.get("missions", ()), 1):
        if not isinstance(entry, dict):
            raise RulesError(f"missions[{number}] must be a table")
        missions.append(_mission(entry, f"mission {entry.get('id', number)!r}"))
    ids = [mission.id for mission in missions]
    if len(ids) != len(set(ids)):
        raise RulesError("mission ids must be unique")
    return Missions(tuple(missions))


@cache
def load_missions(path: Path | None = None) -> Missions:
    """The missions file (the shipped one unless `path` names another)."""
    return parse_missions(read_toml(path, "missions.toml"))
