"""What scan-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from bunri.storage import ObjectStore
from bunri.web.state import app_state
from scan_api.events import ScanEventHub
from scan_api.service import ScanService
from scan_api.settings import ScanApiSettings

ScanServiceDep = Annotated[ScanService, Depends(app_state("scan_service"))]
EventHubDep = Annotated[ScanEventHub, Depends(app_state("event_hub"))]
ObjectStoreDep = Annotated[ObjectStore, Depends(app_state("object_store"))]
ScanSettingsDep = Annotated[ScanApiSettings, Depends(app_state("settings"))]
