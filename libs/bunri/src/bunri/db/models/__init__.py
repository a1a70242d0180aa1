"""Every model, imported here so that `Base.metadata` is complete for Alembic and for queries."""

from bunri.db.base import Base
from bunri.db.models.character import (
    Character,
    CharacterAward,
    CharacterWeek,
    MissionProgress,
    RewardCampaign,
    RewardCampaignChunk,
)
from bunri.db.models.chat import (
    AnswerState,
    BatchKind,
    BatchStatus,
    ChatBatchJob,
    ChatMessage,
    ChatRole,
    Conversation,
)
from bunri.db.models.location import CollectionPoint
from bunri.db.models.outbox_message import OutboxMessage
from bunri.db.models.profile import PhotoStatus, Profile
from bunri.db.models.refresh_token import RefreshToken
from bunri.db.models.scan import Scan, ScanStatus
from bunri.db.models.scan_feedback import ScanFeedback
from bunri.db.models.social_account import SocialAccount
from bunri.db.models.user import User
from bunri.db.models.weekly_report import WeeklyReport

__all__ = [
    "AnswerState",
    "Base",
    "BatchKind",
    "BatchStatus",
    "Character",
    "CharacterAward",
    "CharacterWeek",
    "ChatBatchJob",
    "ChatMessage",
    "ChatRole",
    "CollectionPoint",
    "Conversation",
    "MissionProgress",
    "OutboxMessage",
    "PhotoStatus",
    "Profile",
    "RefreshToken",
    "RewardCampaign",
    "RewardCampaignChunk",
    "Scan",
    "ScanFeedback",
    "ScanStatus",
    "SocialAccount",
    "User",
    "WeeklyReport",
]
