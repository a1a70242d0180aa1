"""What my-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from bunri.storage import ObjectStore
from bunri.web.state import app_state
from my_api.account import AccountService
from my_api.service import ProfileService
from my_api.settings import MyApiSettings

ProfileServiceDep = Annotated[ProfileService, Depends(app_state("profile_service"))]
AccountServiceDep = Annotated[AccountService, Depends(app_state("account_service"))]
ObjectStoreDep = Annotated[ObjectStore, Depends(app_state("object_store"))]
MySettingsDep = Annotated[MyApiSettings, Depends(app_state("settings"))]
