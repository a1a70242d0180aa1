"""Python's cyclic garbage collector, set for a long-running server process.

A full collection walks every container object the process holds and stops the event loop while
it does. With 500 chat streams open that is ~150,000 objects of connections and answers on top of
~160,000 from the imported modules: 90-200 ms of nothing, every few seconds while connections
open (a full collection follows each 25% growth of what survived the last one), and every token
in flight waits for it. So, once the application has started:
- what start-up made is moved out of the collector's reach (`gc.freeze`): modules, classes and
  settings are never garbage;
- a full collection is considered after 1,000 collections of the middle generation instead of
  10, a hundredth as often. Young garbage is still collected as before, and cycles that outlive
  two young collections wait longer for theirs.

Only server processes (`bunri.web.app.serve` opts in, for uvicorn's workers too) do this: a
test process that runs an app's lifespan keeps the defaults.
"""

from __future__ import annotations

import gc
import os

from bunri.logging import get_logger

log = get_logger(__name__)

_OPT_IN = "BUNRI_SERVER_COLLECTOR"
YOUNG_THRESHOLD, MIDDLE_THRESHOLD = 700, 10  # CPython's defaults
FULL_COLLECTION_AFTER = 1000  # middle-generation collections (CPython's default: 10)


def opt_in_for_this_server() -> None:
    """Settle the collector once the app has started, in this process and its workers."""
    os.environ[_OPT_IN] = "1"


def settle_after_startup() -> None:
    if os.environ.get(_OPT_IN) != "1":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_COLLECTION_AFTER)
    log.info("garbage collector settled", frozen_objects=gc.get_freeze_count())
