"""What the reaper does with my-api's dead letters: a photo task fails the photo (the earlier one
stays shown); an erasure is never dropped: the sweep finds the account still there and sends it
again. And a photo task's message that comes again after a newer upload."""

from __future__ import annotations

import datetime
import uuid
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bunri.db.models import PhotoStatus, Profile, User
from bunri.images import PORTRAIT_SIZES
from bunri.journal import Journal
from bunri.messaging.dead_letters import POISON
from bunri.profiles import SyncProfileCache
from bunri.storage import LocalObjectStore, profile_photo_key
from bunri.worker.ledger import ScanLedger
from bunri.worker.slots import Slots
from bunri_programs.reaper.service import DeadLetter, Reaper
from storage_worker.profile_photos import ProfilePhotos
from storage_worker.settings import StorageWorkerSettings
from tests.support.ledger import ledger_on
from tests.support.pictures import photo


def a_person(ledger: ScanLedger, **profile: object) -> uuid.UUID:
    with ledger.sessions() as session:
        user = User(email=f"{uuid.uuid4()}@example.com", password_hash="x", nickname="n")
        session.add(user)
        session.flush()
        session.add(Profile(user_id=user.id, **profile))
        session.commit()
        return user.id


def test_a_dead_photo_task_fails_the_photo_it_carried(
    database_url: str, redis_url: str, clean_database: AsyncEngine
) -> None:
    ledger = ledger_on(database_url, redis_url)
    user_id = a_person(
        ledger,
        photo_status=PhotoStatus.PROCESSING,
        photo_upload=2,
        photo_key="profiles/x/1/512.jpg",
        photo_thumbnail_key="profiles/x/1/96.jpg",
        version=4,
    )
    reaper = Reaper(ledger)
    stale = DeadLetter(
        "my.profile_photo", f"my.profile_photo:{user_id}:1.0a1b2c3d", str(user_id), POISON
    )
    assert reaper.handle(stale) == "already_finished"  # an earlier upload: nothing to fail
    dead = DeadLetter(
        "my.profile_photo", f"my.profile_photo:{user_id}:2.4e5f6a7b", str(user_id), POISON
    )
    assert reaper.handle(dead) == f"failed:{POISON}"
    with ledger.sessions() as session:
        profile = session.get(Profile, user_id)
        assert profile is not None
        assert (profile.photo_status, profile.photo_error) == (PhotoStatus.FAILED, POISON)
        assert profile.photo_key == "profiles/x/1/512.jpg"  # the earlier photo is still shown
        assert profile.version == 5
    assert reaper.handle(dead) == "already_finished"


def test_a_lost_erasure_is_found_and_sent_again(
    database_url: str, redis_url: str, clean_database: AsyncEngine
) -> None:
    ledger = ledger_on(database_url, redis_url)
    leaving = a_person(ledger)
    just_asked = a_person(ledger)
    staying = a_person(ledger)
    now = datetime.datetime.now(datetime.UTC)
    with ledger.sessions() as session:
        session.execute(
            update(User)
            .where(User.id == leaving)
            .values(deleted_at=now - datetime.timedelta(hours=2))
        )
        session.execute(update(User).where(User.id == just_asked).values(deleted_at=now))
        session.commit()
    reaper = Reaper(ledger)
    dead = DeadLetter("my.erase_account", f"my.erase_account:{leaving}", str(leaving), POISON)
    assert reaper.handle(dead) == "resent_later"
    assert reaper.overdue_erasures(datetime.timedelta(hours=1)) == [leaving]
    with ledger.sessions() as session:
        assert session.scalars(select(User.id).where(User.id == staying)).one() == staying


def test_a_photo_processing_for_hours_is_failed_as_stalled(
    database_url: str, redis_url: str, clean_database: AsyncEngine
) -> None:
    ledger = ledger_on(database_url, redis_url)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=3)
    stuck = a_person(
        ledger, photo_status=PhotoStatus.PROCESSING, photo_upload=1, version=2, updated_at=long_ago
    )
    coming = a_person(ledger, photo_status=PhotoStatus.PROCESSING, photo_upload=1, version=2)
    assert Reaper(ledger).sweep_photos(datetime.timedelta(hours=2)) == 1
    with ledger.sessions() as session:
        failed = session.get(Profile, stuck)
        waiting = session.get(Profile, coming)
        assert failed is not None
        assert waiting is not None
        assert (failed.photo_status, failed.photo_error, failed.version) == (
            PhotoStatus.FAILED,
            "stalled",
            3,
        )
        assert waiting.photo_status is PhotoStatus.PROCESSING


def test_a_redelivered_upload_overtaken_by_a_newer_one_keeps_the_photo_shown(
    database_url: str, redis_url: str, clean_database: AsyncEngine, tmp_path: Path
) -> None:
    """Upload 2 was switched in, then its worker died before finishing; upload 3 is processing
    when upload 2's message comes again: the photo the profile shows must stay."""
    ledger = ledger_on(database_url, redis_url)
    store = LocalObjectStore(tmp_path / "objects")
    user_id = a_person(ledger, photo_status=PhotoStatus.PROCESSING, photo_upload=3)
    shown = {size: profile_photo_key(user_id, 2, size) for size in PORTRAIT_SIZES}
    for key in shown.values():
        store.put(key, b"jpeg", "image/jpeg")
    with ledger.sessions() as session:
        session.execute(
            update(Profile)
            .where(Profile.user_id == user_id)
            .values(photo_key=shown[512], photo_thumbnail_key=shown[96])
        )
        session.commit()
    journal = Journal(tmp_path / "journal.sqlite3")
    photos = ProfilePhotos(
        StorageWorkerSettings(database_url=database_url, redis_url=redis_url),
        ledger.sessions,
        store,
        SyncProfileCache(ledger.redis),
        journal,
        Slots(1),
    )
    try:
        task = journal.begin(f"my.profile_photo:{user_id}:2.aa", "my.profile_photo", str(user_id))
        assert photos.store(task.record, user_id, 2, photo(seed=2)) == "superseded"
    finally:
        journal.close()
    assert store.list_keys(f"profiles/{user_id}/") == sorted(shown.values())
