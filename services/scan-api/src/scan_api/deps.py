"""What scan-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bunri.storage import ObjectStore
from scan_api.events import ScanEventHub
from scan_api.service import ScanService
from scan_api.settings import ScanApiSettings


async def scan_service(request: Request) -> ScanService:
    service: ScanService = request.app.state.scan_service
    return service


async def event_hub(request: Request) -> ScanEventHub:
    hub: ScanEventHub = request.app.state.event_hub
    return hub


async def object_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.object_store
    return store


async def scan_settings(request: Request) -> ScanApiSettings:
    settings: ScanApiSettings = request.app.state.settings
    return settings


ScanServiceDep = Annotated[ScanService, Depends(scan_service)]
EventHubDep = Annotated[ScanEventHub, Depends(event_hub)]
ObjectStoreDep = Annotated[ObjectStore, Depends(object_store)]
ScanSettingsDep = Annotated[ScanApiSettings, Depends(scan_settings)]
