"""`bunri-character-worker`: the character worker, a Celery worker on the prefork pool.

It consumes `character.events` (the domain events it counts points from) and
`character.rewards` (reward campaigns, one chunk of people a message)."""

from __future__ import annotations

from bunri.messaging.topology import CHARACTER_EVENTS, CHARACTER_REWARDS
from bunri.worker.launch import exec_celery_worker
from character_worker.settings import CharacterWorkerSettings

QUEUES = ",".join(queue.name for queue in (CHARACTER_EVENTS, CHARACTER_REWARDS))


def main() -> None:
    settings = CharacterWorkerSettings()
    exec_celery_worker(
        "character_worker.app",
        pool="prefork",
        concurrency=settings.character_worker_concurrency,
        queue=QUEUES,
        name="character",
        log_level=settings.log_level,
        # The pool children observe; the parent serves their figures, added up.
        metrics_multiprocess_dir=settings.metrics_multiprocess_dir,
    )
