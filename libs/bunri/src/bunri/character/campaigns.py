"""Reward campaigns: points for many people, granted in chunks, exactly once per person.

Starting one writes the campaign, its chunks (the people, fixed when it starts) and one task
message per chunk into the outbox, in one transaction: it starts whole or not at all, and the
relay delivers the chunks even if the starter dies the instant after. Each chunk is granted in
one transaction that marks it done; the award key `campaign:<name>` is unique per person, so a
chunk run twice, or a person listed twice, is paid once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import String, cast, select, update
from sqlalchemy.orm import Session

from bunri.character.errors import (
    CampaignExists,
    InvalidCampaign,
    InvalidUserList,
    UnknownCampaign,
)
from bunri.character.periods import local_day, week_start
from bunri.db.base import utcnow
from bunri.db.models import (
    Character,
    CharacterAward,
    CharacterWeek,
    OutboxMessage,
    RewardCampaign,
    RewardCampaignChunk,
    User,
)
from bunri.db.upsert import upsert_insert
from bunri.ids import uuid7
from bunri.messaging.outbox import outbox_columns
from bunri.messaging.protocol import TaskMessage, task_message
from bunri.messaging.tasks import GRANT_CAMPAIGN_CHUNK
from bunri.messaging.topology import LOW_PRIORITY

CAMPAIGN = "campaign"
CHUNK_SIZE = 1000
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_POINTS = 100_000
# Who started a campaign: `user:<id>` (the admin endpoint) or `cli:<login>` (`bunri rewards`).
STARTED_BY_USER = "user:"
ERASED_STARTER = "an erased account"


@dataclass(frozen=True, slots=True)
class ChunkGranted:
    # granted, duplicate (done before), unknown (no such chunk)
    word: str
    granted: list[uuid.UUID]
    week: date | None = None


def check_campaign(name: str, points: int) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidCampaign(
            "A campaign's name is 1 to 64 characters: lower-case letters, digits, '.', '_', '-'."
        )
    if not 1 <= points <= MAX_POINTS:
        raise InvalidCampaign(f"A campaign grants 1 to {MAX_POINTS} points.")


def parse_user_lines(lines: Iterable[str]) -> list[uuid.UUID]:
    """A user file: one account id a line; blank lines and `#` comments are skipped. A bad line
    refuses the whole file, naming the line."""
    users: list[uuid.UUID] = []
    for number, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        try:
            users.append(uuid.UUID(entry))
        except ValueError:
            raise InvalidUserList(
                f"Line {number} is not an account id: {entry[:60]!r}.", extra={"line": number}
            ) from None
    if not users:
        raise InvalidUserList("The list names nobody.")
    return users


def start_campaign(
    session: Session,
    *,
    name: str,
    points: int,
    started_by: str,
    users: Sequence[uuid.UUID] | None,
    chunk_size: int = CHUNK_SIZE,
) -> RewardCampaign:
    """Start a campaign for `users` (None: every account now), in `session`'s transaction."""
    check_campaign(name, points)
    if users is not None and not users:
        raise InvalidUserList("The list names nobody.")
    now = utcnow()
    created = session.execute(
        upsert_insert(session, RewardCampaign)
        .values(
            name=name,
            points=points,
            audience="all" if users is None else "users",
            started_by=started_by,
            users_total=0,
            chunks_total=0,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[RewardCampaign.name])
        .returning(RewardCampaign.name)
    ).first()
    if created is None:
        raise CampaignExists()
    people = _everyone(session) if users is None else _known(session, users)
    chunks = [people[start : start + chunk_size] for start in range(0, len(people), chunk_size)]
    if chunks:
        session.execute(
            upsert_insert(session, RewardCampaignChunk),
            [
                {"campaign": name, "number": number, "user_ids": [str(user) for user in chunk]}
                for number, chunk in enumerate(chunks)
            ],
        )
    session.execute(
        update(RewardCampaign)
        .where(RewardCampaign.name == name)
        .values(
            chunks_total=len(chunks),
            users_total=len(people),
            finished_at=now if not chunks else None,
        )
    )
    for number in range(len(chunks)):
        session.add(OutboxMessage(**outbox_columns(chunk_message(name, number))))
    campaign = session.get(RewardCampaign, name, populate_existing=True)
    assert campaign is not None
    return campaign


def chunk_message(name: str, number: int) -> TaskMessage:
    task_id = f"{GRANT_CAMPAIGN_CHUNK}:{name}:{number}"
    return task_message(
        GRANT_CAMPAIGN_CHUNK,
        task_id=task_id,
        args=[name],
        kwargs={"number": number},
        # Behind what people are waiting for (the events of their own scans share no queue
        # with it, but the database does).
        priority=LOW_PRIORITY,
        argsrepr=f"('{name}',)",
        kwargsrepr=f"{{'number': {number}}}",
    )


def _known(session: Session, users: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The list without repeats, refused whole if it names an account that does not exist."""
    unique = list(dict.fromkeys(users))
    found: set[uuid.UUID] = set()
    for start in range(0, len(unique), 10_000):
        batch = unique[start : start + 10_000]
        found.update(session.scalars(select(User.id).where(User.id.in_(batch))))
    missing = [user for user in unique if user not in found]
    if missing:
        raise InvalidUserList(
            f"{len(missing)} listed account(s) do not exist, the first {missing[0]}.",
            extra={"unknown": [str(user) for user in missing[:20]]},
        )
    return unique


def _everyone(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(User.id).where(User.deleted_at.is_(None)).order_by(User.id)))


def grant_chunk(session: Session, name: str, number: int) -> ChunkGranted:
    """Grant one chunk, in `session`'s transaction (the caller commits)."""
    chunk = session.scalars(
        select(RewardCampaignChunk).filter_by(campaign=name, number=number).with_for_update()
    ).first()
    if chunk is None:
        return ChunkGranted("unknown", [])
    if chunk.done_at is not None:
        return ChunkGranted("duplicate", [])
    campaign = session.get(RewardCampaign, name)
    assert campaign is not None  # the chunk's foreign key
    now = utcnow()
    day = local_day(now)
    week = week_start(day)
    listed = [uuid.UUID(user) for user in chunk.user_ids]
    live = list(
        session.scalars(select(User.id).where(User.id.in_(listed), User.deleted_at.is_(None)))
    )
    granted = _pay(session, live, name, campaign.points, now, day) if live else []
    if granted:
        _add_to_characters(session, granted, campaign.points, now, week)
    chunk.done_at = now
    chunk.granted = len(granted)
    # The awards say who was paid; the list is not kept past its use.
    chunk.user_ids = []
    session.execute(
        update(RewardCampaign)
        .where(RewardCampaign.name == name)
        .values(
            chunks_done=RewardCampaign.chunks_done + 1,
            users_granted=RewardCampaign.users_granted + len(granted),
            users_skipped=RewardCampaign.users_skipped + len(listed) - len(granted),
            updated_at=now,
        )
    )
    session.execute(
        update(RewardCampaign)
        .where(
            RewardCampaign.name == name,
            RewardCampaign.chunks_done == RewardCampaign.chunks_total,
            RewardCampaign.finished_at.is_(None),
        )
        .values(finished_at=utcnow())
    )
    return ChunkGranted("granted", granted, week)


def _pay(
    session: Session,
    users: list[uuid.UUID],
    name: str,
    points: int,
    now: datetime,
    day: date,
) -> list[uuid.UUID]:
    """Award the campaign to `users`; those it was not awarded to before."""
    rows = [
        {
            "id": uuid7(),
            "user_id": user,
            "key": f"{CAMPAIGN}:{name}",
            "source": CAMPAIGN,
            "points": points,
            "detail": {"campaign": name},
            "occurred_at": now,
            "day": day,
            "created_at": now,
        }
        for user in users
    ]
    # Many rows, one statement compiled once (executemany, batched into multi-row INSERTs).
    paid = session.execute(
        upsert_insert(session, CharacterAward)
        .on_conflict_do_nothing(index_elements=[CharacterAward.user_id, CharacterAward.key])
        .returning(CharacterAward.user_id),
        rows,
    )
    return list(paid.scalars())


def _add_to_characters(
    session: Session, users: list[uuid.UUID], points: int, now: datetime, week: date
) -> None:
    characters = upsert_insert(session, Character)
    session.execute(
        characters.on_conflict_do_update(
            index_elements=[Character.user_id],
            set_={
                "points": Character.points + characters.excluded.points,
                "version": Character.version + 1,
                "updated_at": characters.excluded.updated_at,
            },
        ),
        [
            {"user_id": user, "points": points, "version": 1, "created_at": now, "updated_at": now}
            for user in users
        ],
    )
    weeks = upsert_insert(session, CharacterWeek)
    session.execute(
        weeks.on_conflict_do_update(
            index_elements=[CharacterWeek.user_id, CharacterWeek.week_start],
            set_={"points": CharacterWeek.points + weeks.excluded.points},
        ),
        [{"user_id": user, "week_start": week, "points": points} for user in users],
    )


def get_campaign(session: Session, name: str) -> RewardCampaign:
    campaign = session.get(RewardCampaign, name)
    if campaign is None:
        raise UnknownCampaign()
    return campaign


def forget_campaign_membership(session: Session, user_id: uuid.UUID) -> None:
    """Take an account being erased out of the campaigns: the chunks still to grant that list it,
    and the campaigns it started (its awards go with its rows)."""
    member = str(user_id)
    listing = session.scalars(
        select(RewardCampaignChunk).where(
            RewardCampaignChunk.done_at.is_(None),
            cast(RewardCampaignChunk.user_ids, String).contains(member),
        )
    )
    for chunk in listing:
        chunk.user_ids = [user for user in chunk.user_ids if user != member]
    session.execute(
        update(RewardCampaign)
        .where(RewardCampaign.started_by == f"{STARTED_BY_USER}{user_id}")
        .values(started_by=ERASED_STARTER)
    )
