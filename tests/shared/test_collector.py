"""bunri.web.collector: a server process settles its garbage collector once its app has started;
any other process that runs an app's lifespan (a test) keeps CPython's defaults."""

from __future__ import annotations

import json
import os

from tests.support.processes import python_says

# Runs an app made by create_service_app through its lifespan, in a fresh interpreter, and says
# what the collector looks like then.
_PROGRAM = """
import asyncio, gc, json, sys
from contextlib import asynccontextmanager
from bunri.settings import BunriSettings
from bunri.web.app import create_service_app
from bunri.web.collector import opt_in_for_this_server

if sys.argv[1] == "server":
    opt_in_for_this_server()

@asynccontextmanager
async def lifespan(app):
    yield {"opened": True}

app = create_service_app(settings=BunriSettings(), title="t", description="d",
                         docs_prefix="/t", routers=[], lifespan=lifespan)

async def main():
    async with app.router.lifespan_context(app) as state:
        print(json.dumps({"state": state, "threshold": gc.get_threshold(),
                          "frozen": gc.get_freeze_count()}))

asyncio.run(main())
"""


def _collector_after_startup(kind: str) -> dict[str, object]:
    env = {name: value for name, value in os.environ.items() if name != "BUNRI_SERVER_COLLECTOR"}
    result: dict[str, object] = json.loads(python_says(_PROGRAM, kind, env=env))
    return result


def test_a_server_freezes_what_startup_made_and_collects_everything_rarely() -> None:
    after = _collector_after_startup("server")
    assert after["state"] == {"opened": True}  # the service's own lifespan still ran
    assert after["threshold"] == [700, 10, 1000]
    frozen = after["frozen"]
    assert isinstance(frozen, int)
    assert frozen > 50_000  # the imported modules


def test_another_process_running_a_lifespan_keeps_the_defaults() -> None:
    after = _collector_after_startup("test")
    assert after["state"] == {"opened": True}
    assert after["threshold"] == [700, 10, 10]
    assert after["frozen"] == 0
