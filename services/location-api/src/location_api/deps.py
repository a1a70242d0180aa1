"""What location-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from bunri.web.state import app_state
from location_api.service import LocationService

LocationServiceDep = Annotated[LocationService, Depends(app_state("location_service"))]
