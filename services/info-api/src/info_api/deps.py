"""What info-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from bunri.web.state import app_state
from info_api.caching import CachePolicy

CachePolicyDep = Annotated[CachePolicy, Depends(app_state("cache_policy"))]
