"""The character domain's errors: a stable `code` and a message for people."""

from __future__ import annotations

from bunri.errors import BunriError, Conflict, NotFound


class UnknownMission(NotFound):
    code = "unknown_mission"
    message = "There is no such mission (GET /api/v1/character/missions lists them)."


class MissionIncomplete(Conflict):
    code = "mission_incomplete"
    message = "This mission is not complete yet in this period; it can be claimed once it is."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    message = "This mission's reward was already claimed in this period."


class ClaimContended(Conflict):
    code = "claim_contended"
    message = "The character kept changing while the claim was made; please try again."


class UnknownCampaign(NotFound):
    code = "unknown_campaign"
    message = "There is no reward campaign of that name."


class CampaignExists(Conflict):
    code = "campaign_exists"
    message = "A reward campaign of that name was already started; choose another name."


class InvalidCampaign(BunriError):
    code = "invalid_campaign"
    message = "The campaign's name or points are not valid."


class InvalidUserList(BunriError):
    code = "invalid_user_list"
    message = "The list of people is not valid; nothing was granted."
