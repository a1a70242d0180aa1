"""Counting a chaos run's outcome from the sources of truth: the scans table, the scans' progress
event streams in Redis, the bucket's object versions and the character domain's tables (awards and
points), never from what the harness believes it did (beyond which scan ids were accepted, and
which of them carried the crash marker)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import Engine, String, cast, exists, func, select

from bunri.db.base import utcnow
from bunri.db.models import Character, CharacterAward, Scan, ScanStatus
from bunri.messaging.topology import SCAN_COMPLETED
from bunri.scans import transitions
from bunri.scans.events import stream_key

POISON = "poison"
TERMINAL = (ScanStatus.COMPLETED, ScanStatus.FAILED)
# Each transition is a compare-and-set that bumps the version once: a scan starts at 1 and a
# completed one went through every step of transitions.NEXT, so it ends at exactly this version.
COMPLETED_VERSION = 1 + len(transitions.NEXT)


@dataclass(frozen=True)
class Row:
    id: str
    status: ScanStatus
    version: int
    error_code: str | None
    original_key: str | None
    thumbnail_key: str | None
    updated_at: datetime


@dataclass
class Awards:
    """Points, counted from `character_awards` and `characters`: a completed scan earns exactly one
    `scan.completed` award (0 points is still an award: the same photo again, or past the day's
    cap), a scan that did not complete earns none, and a character's points are the sum of its
    awards."""

    awards: int = 0  # scan.completed awards
    points: int = 0  # every character's points, added up
    without_award: list[str] = field(default_factory=list)  # completed scans
    duplicated: list[str] = field(default_factory=list)  # scans awarded more than once
    for_unfinished: list[str] = field(default_factory=list)  # scans not completed (or unknown)
    wrong_user: list[str] = field(default_factory=list)  # scans awarded to someone else
    points_mismatched: list[str] = field(default_factory=list)  # "user: points P, awards A"
    # Why the wait for the last awards gave up, if it did: where the missing events are.
    wait_note: str = ""


@dataclass
class Audit:
    submitted: int = 0
    completed: int = 0
    failed: Counter[str] = field(default_factory=Counter)  # by error_code
    stuck: list[Row] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # accepted, yet no row
    unexpected_failures: list[Row] = field(default_factory=list)
    poison_not_failed: list[str] = field(default_factory=list)
    duplicated_results: list[str] = field(default_factory=list)
    duplicated_s3_objects: list[str] = field(default_factory=list)
    orphaned_s3_objects: list[str] = field(default_factory=list)
    missing_terminal_events: int = 0  # informational: progress events are best effort
    awards: Awards = field(default_factory=Awards)


def scan_rows(engine: Engine, ids: list[str]) -> dict[str, Row]:
    query = select(
        Scan.id,
        Scan.status,
        Scan.version,
        Scan.error_code,
        Scan.original_key,
        Scan.thumbnail_key,
        Scan.updated_at,
    )
    with engine.connect() as connection:
        rows = connection.execute(query.where(Scan.id.in_([uuid.UUID(i) for i in ids])))
        return {str(row.id): Row(str(row.id), *row[1:]) for row in rows}


def all_object_keys(engine: Engine) -> set[str]:
    """Every object key any scan row references (rows outside this run's ids included)."""
    with engine.connect() as connection:
        rows = connection.execute(select(Scan.original_key, Scan.thumbnail_key))
        return {key for row in rows for key in row if key}


def stream_statuses(client: redis.Redis, scan_id: str) -> list[str]:
    entries: Any = client.xrange(stream_key(scan_id))  # [(entry id, {b"e": event JSON})]
    return [json.loads(fields[b"e"])["event"] for _, fields in entries]


def duplicated_result(row: Row, statuses: list[str]) -> bool:
    """Whether the scan's result (its terminal state) was written more than once, or written and
    then changed.

    Two witnesses, because either alone can miss it. The row's version counts the transitions the
    database accepted: a completed scan is at exactly COMPLETED_VERSION, any scan at most that.
    The event stream is the history: its entry ids are versions, so one status twice means two
    transitions to it; two terminal events, or a terminal event other than the row's status, mean
    the result was replaced. (A missing event is not a duplicate: events are best effort.)
    """
    if row.version > COMPLETED_VERSION:
        return True
    if row.status is ScanStatus.COMPLETED and row.version != COMPLETED_VERSION:
        return True
    repeated = any(count > 1 for count in Counter(statuses).values())
    terminal = [status for status in statuses if status in TERMINAL]
    return repeated or len(terminal) > 1 or any(status != row.status for status in terminal)


def object_versions(s3: Any, bucket: str) -> Counter[str]:
    """How many versions each key has (delete markers aside)."""
    versions: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            versions[version["Key"]] += 1
    return versions


def audit(
    engine: Engine, redis_client: redis.Redis, s3: Any, bucket: str, accepted: dict[str, bool]
) -> Audit:
    result = Audit(submitted=len(accepted))
    rows = scan_rows(engine, list(accepted))
    for scan_id, poisoned in accepted.items():
        row = rows.get(scan_id)
        if row is None:
            result.lost.append(scan_id)
            continue
        _count_outcome(result, row, poisoned)
        statuses = stream_statuses(redis_client, scan_id)
        if duplicated_result(row, statuses):
            result.duplicated_results.append(scan_id)
        if row.status in TERMINAL and row.status not in statuses:
            result.missing_terminal_events += 1
    versions = object_versions(s3, bucket)
    result.duplicated_s3_objects = sorted(key for key, count in versions.items() if count > 1)
    result.orphaned_s3_objects = sorted(set(versions) - all_object_keys(engine))
    result.awards = audit_awards(engine)
    return result


def completed_without_award(engine: Engine) -> int:
    """How many completed scans (in this run's private database: all of them) have no
    `scan.completed` award yet."""
    awarded = exists().where(
        CharacterAward.source == SCAN_COMPLETED,
        CharacterAward.detail["scan_id"].as_string() == cast(Scan.id, String),
    )
    query = select(func.count()).where(Scan.status == ScanStatus.COMPLETED, ~awarded)
    with engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def audit_awards(engine: Engine) -> Awards:
    """Every scan against its `scan.completed` awards, and every character's points against the
    sum of its awards (of every source)."""
    with engine.connect() as connection:
        scans = {
            str(row.id): row
            for row in connection.execute(select(Scan.id, Scan.status, Scan.user_id))
        }
        awards = connection.execute(
            select(
                CharacterAward.user_id,
                CharacterAward.detail["scan_id"].as_string().label("scan_id"),
            ).where(CharacterAward.source == SCAN_COMPLETED)
        ).all()
        # (A Result has keys(): dict() would take it for a mapping.)
        sums = {
            user: int(total or 0)
            for user, total in connection.execute(
                select(CharacterAward.user_id, func.sum(CharacterAward.points)).group_by(
                    CharacterAward.user_id
                )
            )
        }
        points = {
            user: int(total)
            for user, total in connection.execute(select(Character.user_id, Character.points))
        }
    result = Awards(awards=len(awards), points=sum(points.values()))
    per_scan = Counter(str(award.scan_id) for award in awards)
    completed = {key for key, row in scans.items() if row.status is ScanStatus.COMPLETED}
    result.without_award = sorted(completed - set(per_scan))
    result.duplicated = sorted(key for key, count in per_scan.items() if count > 1)
    result.for_unfinished = sorted(set(per_scan) - completed)
    result.wrong_user = sorted(
        {
            str(award.scan_id)
            for award in awards
            if str(award.scan_id) in scans and scans[str(award.scan_id)].user_id != award.user_id
        }
    )
    result.points_mismatched = [
        f"{user}: points {points.get(user, 0)}, awards {sums.get(user, 0)}"
        for user in sorted(set(points) | set(sums), key=str)
        if points.get(user, 0) != sums.get(user, 0)
    ]
    return result


def _count_outcome(result: Audit, row: Row, poisoned: bool) -> None:
    if row.status is ScanStatus.COMPLETED:
        result.completed += 1
    elif row.status is ScanStatus.FAILED:
        result.failed[row.error_code or "?"] += 1
        # The one failure this run induces on purpose: a poisoned upload, dead-lettered as such.
        if not (poisoned and row.error_code == POISON):
            result.unexpected_failures.append(row)
    else:
        result.stuck.append(row)
    if poisoned and not (row.status is ScanStatus.FAILED and row.error_code == POISON):
        result.poison_not_failed.append(row.id)


def problems(result: Audit, unaccepted: int, chaos_errors: list[str]) -> list[str]:
    """Why the run fails, one line each; none when it passes."""
    found = [f"a chaos action failed: {error}" for error in chaos_errors]
    if unaccepted:
        found.append(f"{unaccepted} uploads were never accepted")
    if result.completed + result.failed.total() != result.submitted:
        found.append(
            f"completed {result.completed} + failed {result.failed.total()}"
            f" != submitted {result.submitted}"
        )
    if result.lost:
        found.append(f"{len(result.lost)} accepted scans have no row: {result.lost[:5]}")
    if result.stuck:
        by_status = Counter(row.status.value for row in result.stuck)
        found.append(f"{len(result.stuck)} scans stuck: {dict(by_status)}")
    if result.unexpected_failures:
        reasons = Counter(row.error_code for row in result.unexpected_failures)
        found.append(f"failures the run did not induce: {dict(reasons)}")
    if result.poison_not_failed:
        found.append(f"{len(result.poison_not_failed)} poisoned scans not failed as {POISON}")
    for name in ("duplicated_results", "duplicated_s3_objects", "orphaned_s3_objects"):
        items: list[str] = getattr(result, name)
        if items:
            found.append(f"{len(items)} {name.replace('_', ' ')}, e.g. {items[:3]}")
    return found + award_problems(result.awards)


def award_problems(awards: Awards) -> list[str]:
    found = []
    if awards.without_award:
        waited = f" ({awards.wait_note})" if awards.wait_note else ""
        found.append(
            f"{len(awards.without_award)} completed scans have no {SCAN_COMPLETED} award{waited},"
            f" e.g. {awards.without_award[:3]}"
        )
    checks = (
        (awards.duplicated, f"scans have more than one {SCAN_COMPLETED} award"),
        (awards.for_unfinished, f"{SCAN_COMPLETED} awards are for scans that did not complete"),
        (awards.wrong_user, "scans were awarded to someone other than their owner"),
        (awards.points_mismatched, "characters' points differ from the sum of their awards"),
    )
    for items, what in checks:
        if items:
            found.append(f"{len(items)} {what}, e.g. {items[:3]}")
    return found


def stuck_lines(result: Audit) -> list[str]:
    """One line per stuck scan, oldest change first: its state and how long it has been there."""
    now = utcnow()
    return [
        f"{row.id} {row.status.value} v{row.version}"
        f" unchanged for {(now - row.updated_at).total_seconds():.0f} s"
        for row in sorted(result.stuck, key=lambda row: row.updated_at)
    ]


def stuck_examples(result: Audit, per_status: int = 3) -> list[str]:
    """A few stuck scans of each state: enough to grep the logs for."""
    shown: Counter[str] = Counter()
    examples = []
    for line in stuck_lines(result):
        status = line.split()[1]
        if shown[status] < per_status:
            shown[status] += 1
            examples.append(line)
    return examples


def findings(result: Audit) -> str:
    """Every scan and object behind a failed check, by check (empty when the run passed)."""
    sections = {
        "stuck": stuck_lines(result),
        "unexpected failures": [f"{row.id} {row.error_code}" for row in result.unexpected_failures],
        "lost": result.lost,
        f"poisoned, not failed as {POISON}": result.poison_not_failed,
        "duplicated results": result.duplicated_results,
        "duplicated s3 objects": result.duplicated_s3_objects,
        "orphaned s3 objects": result.orphaned_s3_objects,
        "completed scans without an award": result.awards.without_award,
        "scans awarded more than once": result.awards.duplicated,
        "awards for scans that did not complete": result.awards.for_unfinished,
        "scans awarded to someone else": result.awards.wrong_user,
        "characters whose points are not their awards' sum": result.awards.points_mismatched,
    }
    return "".join(
        f"# {title}\n" + "".join(f"{line}\n" for line in lines) + "\n"
        for title, lines in sections.items()
        if lines
    )
