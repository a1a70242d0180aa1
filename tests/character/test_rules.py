"""The rules file (what each thing earns, levels, stages) and the missions file: the shipped ones
load as documented; a file with a mistake is refused whole, at load, with a RulesError that says
what is wrong (a service given it does not start). And the user files reward campaigns read."""

from __future__ import annotations

import copy
import tomllib
import uuid
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from bunri.character.campaigns import parse_user_lines
from bunri.character.errors import InvalidUserList
from bunri.character.missions import load_missions, parse_missions
from bunri.character.rules import Level, RulesError, load_rules, parse_rules
from bunri.messaging.topology import CHAT_ANSWERED, SCAN_COMPLETED, SCAN_FEEDBACK
from character_api.app import create_app
from tests.support.character import character_settings


def shipped(name: str) -> dict[str, Any]:
    text = files("bunri.character").joinpath("data", name).read_text("utf-8")
    return tomllib.loads(text)


def test_the_shipped_rules_load() -> None:
    rules = load_rules()
    scan = rules.scan
    assert (scan.points, scan.unsure_points, scan.same_image_hours, scan.daily_cap) == (
        10,
        3,
        24.0,
        100,
    )
    assert (rules.feedback.points, rules.feedback.daily_cap) == (5, 25)
    assert (rules.chat.points, rules.chat.daily_cap) == (2, 10)
    assert rules.thresholds[0] == 0
    assert len(rules.thresholds) == 15


@pytest.mark.parametrize(
    ("points", "level"),
    [
        (0, Level(1, 30, 30)),
        (29, Level(1, 1, 30)),
        (30, Level(2, 50, 80)),
        (90, Level(3, 60, 150)),
        (4999, Level(14, 1, 5000)),
        (5000, Level(15, None, None)),
        (10**9, Level(15, None, None)),
    ],
)
def test_points_reach_levels(points: int, level: Level) -> None:
    assert load_rules().level(points) == level


@pytest.mark.parametrize(
    ("level", "stage"),
    [
        (1, "seed"),
        (2, "seed"),
        (3, "sprout"),
        (5, "sprout"),
        (6, "sapling"),
        (10, "tree"),
        (13, "tree"),
        (14, "forest"),
        (15, "forest"),
    ],
)
def test_levels_reach_stages(level: int, stage: str) -> None:
    assert load_rules().stage(level).id == stage


def test_the_shipped_missions_load() -> None:
    missions = load_missions()
    assert [mission.id for mission in missions.all] == [
        "daily-three-kinds",
        "daily-ask-batteries",
        "daily-unsure-feedback",
        "weekly-ten-scans",
        "weekly-five-questions",
    ]
    three = missions.get("daily-three-kinds")
    assert three is not None
    assert (three.period, three.event, three.distinct, three.goal, three.points) == (
        "daily",
        SCAN_COMPLETED,
        "middle",
        3,
        20,
    )
    assert missions.get("no-such-mission") is None


def test_what_counts_towards_a_mission() -> None:
    missions = load_missions()

    def counted(event_type: str, data: dict[str, Any]) -> list[str]:
        return [mission.id for mission in missions.for_event(event_type, data)]

    sure = {"major": "재활용폐기물", "middle": "유리병", "unsure": False}
    assert counted(SCAN_COMPLETED, sure) == ["daily-three-kinds", "weekly-ten-scans"]
    assert counted(SCAN_COMPLETED, sure | {"unsure": True}) == []
    assert counted(SCAN_COMPLETED, sure | {"major": "일반종량제폐기물"}) == ["weekly-ten-scans"]
    # A list field holds the value; a plain one equals it.
    assert counted(CHAT_ANSWERED, {"topics": ["형광등", "전지"]}) == [
        "daily-ask-batteries",
        "weekly-five-questions",
    ]
    assert counted(CHAT_ANSWERED, {"topics": ["종이"]}) == ["weekly-five-questions"]
    assert counted(CHAT_ANSWERED, {"topics": "전지"}) == [
        "daily-ask-batteries",
        "weekly-five-questions",
    ]
    assert counted(SCAN_FEEDBACK, {"predicted_unsure": True}) == ["daily-unsure-feedback"]
    assert counted(SCAN_FEEDBACK, {"predicted_unsure": False}) == []
    assert counted("scan.started", sure) == []


def _rules_with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(shipped("rules.toml"))
    change(document)
    return document


def _set(path: str, value: Any) -> Any:
    *tables, key = path.split(".")

    def change(document: dict[str, Any]) -> None:
        table = document
        for name in tables:
            table = table[name]
        table[key] = value

    return change


def _drop(path: str) -> Any:
    *tables, key = path.split(".")

    def change(document: dict[str, Any]) -> None:
        table = document
        for name in tables:
            table = table[name]
        del table[key]

    return change


def _stage(number: int, **values: Any) -> Any:
    def change(document: dict[str, Any]) -> None:
        document["stages"][number].update(values)
        for key, value in values.items():
            if value is None:
                del document["stages"][number][key]

    return change


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_set("levels.thresholds", [5, 30, 80]), "levels.thresholds must start at 0"),
        (_set("levels.thresholds", [0, 80, 30]), "rising"),
        (_set("levels.thresholds", [0, 30, 30, 80]), "rising"),
        (_set("levels.thresholds", []), "levels.thresholds"),
        (_set("levels.thresholds", [0, "30", 80]), "levels.thresholds"),
        (_set("scan.unsure_points", 20), "scan.unsure_points"),
        (_set("scan.points", -10), "scan.points"),
        (_set("feedback.daily_cap", -1), "feedback.daily_cap"),
        (_set("chat.points", "2"), "chat.points"),
        (_set("chat.points", True), "chat.points"),
        (_drop("feedback"), "feedback.points"),
        (_set("scan.same_image_hours", "a day"), "scan.same_image_hours"),
        (_set("scan.same_image_hours", -1), "scan.same_image_hours"),
        (_stage(0, from_level=2), "the first stage must start at level 1"),
        (_stage(2, from_level=3), "stages must start at rising levels"),
        (_stage(4, from_level=16), "a stage starts past the last level"),
        (_set("stages", []), "the first stage"),
        # A stage missing a key, or with a level that is not a number, is a mistake in the file
        # like any other: refused with a RulesError naming it.
        (_stage(1, name_en=None), "name_en"),
        (_stage(2, from_level="six"), "from_level"),
    ],
    ids=[
        "thresholds not from 0",
        "thresholds falling",
        "thresholds repeated",
        "no thresholds",
        "a threshold as text",
        "unsure pays more than sure",
        "negative points",
        "negative cap",
        "points as text",
        "points as a boolean",
        "no feedback table",
        "hours as text",
        "negative hours",
        "first stage past level 1",
        "stages not rising",
        "stage past the last level",
        "no stages",
        "stage without name_en",
        "stage level as text",
    ],
)
def test_a_rules_file_with_a_mistake_is_refused(change: Any, says: str) -> None:
    with pytest.raises(RulesError, match=says):
        parse_rules(_rules_with(change))


def _missions_with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(shipped("missions.toml"))
    change(document["missions"])
    return document


def _mission(number: int, **values: Any) -> Any:
    def change(missions: list[dict[str, Any]]) -> None:
        missions[number].update(values)
        for key, value in values.items():
            if value is None:
                del missions[number][key]

    return change


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (_mission(0, event="scan.started"), "event must be one of"),
        (_mission(1, period="monthly"), "period must be one of"),
        (_mission(2, goal=None), r"goal must be a whole number"),
        (_mission(2, title_en=None), "title_en must be some text"),
        (_mission(3, goal=0), "goal must be 1 or more"),
        (_mission(3, points=-5), r"points must be a whole number, 0 or more"),
        (_mission(4, id="x" * 65), "64 characters at most"),
        (_mission(4, id=""), "id must be some text"),
        (_mission(4, id="daily-three-kinds"), "mission ids must be unique"),
        # Not a number, not a table: the same, a RulesError naming the mission.
        (_mission(0, goal="three"), "daily-three-kinds"),
        (_mission(1, when="전지"), "daily-ask-batteries"),
    ],
    ids=[
        "unknown event",
        "unknown period",
        "no goal",
        "no English title",
        "goal 0",
        "negative points",
        "id too long",
        "empty id",
        "id twice",
        "goal as text",
        "when not a table",
    ],
)
def test_a_missions_file_with_a_mistake_is_refused(change: Any, says: str) -> None:
    with pytest.raises(RulesError, match=says):
        parse_missions(_missions_with(change))


def test_a_bad_rules_file_stops_character_api_from_starting(
    tmp_path: Path, character_env: dict[str, str]
) -> None:
    rules = tmp_path / "rules.toml"
    text = files("bunri.character").joinpath("data", "rules.toml").read_text("utf-8")
    rules.write_text(text.replace("unsure_points = 3", "unsure_points = 30"), encoding="utf-8")
    with pytest.raises(RulesError, match=r"scan\.unsure_points"):
        load_rules(rules)
    with pytest.raises(RulesError, match=r"scan\.unsure_points"):
        create_app(character_settings(character_env, character_rules_path=rules))

    missions = tmp_path / "missions.toml"
    missions.write_text(
        '[[missions]]\nid = "odd"\nperiod = "hourly"\nevent = "chat.answered"\ngoal = 1\n'
        'points = 1\ntitle = "x"\ntitle_en = "x"\n',
        encoding="utf-8",
    )
    with pytest.raises(RulesError, match="period"):
        create_app(character_settings(character_env, character_missions_path=missions))


def test_a_user_file_names_one_account_a_line() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    lines = ["# the winners", "", f"{first}", f"  {second}  # late entry", f"{first}", "   "]
    # Repeats are kept here; starting the campaign pays each person once.
    assert parse_user_lines(lines) == [first, second, first]


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ([str(uuid.uuid4()), "not-an-id", str(uuid.uuid4())], "Line 2"),
        (["# nobody", ""], "names nobody"),
        ([], "names nobody"),
    ],
    ids=["a bad line", "only comments", "empty"],
)
def test_a_bad_user_file_is_refused_whole(lines: list[str], says: str) -> None:
    with pytest.raises(InvalidUserList, match=says) as refused:
        parse_user_lines(lines)
    assert refused.value.code == "invalid_user_list"
    if "Line" in says:
        assert refused.value.extra == {"line": 2}
