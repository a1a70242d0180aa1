from __future__ import annotations

from bunri.errors import Conflict, NotFound


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation."


class BatchJobNotFound(NotFound):
    code = "batch_job_not_found"
    message = "No such batch job."


class MessageInProgress(Conflict):
    code = "message_in_progress"
    message = "This message is already being answered; wait for that answer."
