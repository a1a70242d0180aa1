"""What character-api's routes depend on, read from the application state set up in its lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from bunri.web.state import app_state
from character_api.service import CharacterService

CharacterServiceDep = Annotated[CharacterService, Depends(app_state("character_service"))]
