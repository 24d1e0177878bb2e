"""Every table of the shared store. Import from here so all tables are registered on the metadata."""

from contact_store.models.admin import CannedSynonym, ChangeHistory, ConfigOverride
from contact_store.models.audit import AuditEvent
from contact_store.models.base import NAMING_CONVENTION, metadata
from contact_store.models.chat import (
    WAITING_STATUSES,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Message,
    SenderKind,
)
from contact_store.models.content import CannedResponse
from contact_store.models.facts import MEASURE_COLUMNS, fact_build_state, fact_contact_day
from contact_store.models.org import (
    ROLE_RANK,
    Area,
    Operator,
    OperatorArea,
    OperatorStatus,
    Role,
    StaffSession,
    Team,
)
from contact_store.models.people import Person
from contact_store.models.reports import (
    OPEN_REPORT_STATUSES,
    Evidence,
    FormSession,
    IdempotencyRecord,
    Report,
    ReportEvent,
    ReportStatus,
)
from contact_store.models.sms import InboundSms, SmsMessage, SmsStatus
from contact_store.models.surveys import InvitationStatus, SurveyInvitation, SurveyResponse

__all__ = [
    "MEASURE_COLUMNS",
    "NAMING_CONVENTION",
    "OPEN_REPORT_STATUSES",
    "ROLE_RANK",
    "WAITING_STATUSES",
    "Area",
    "AuditEvent",
    "CannedResponse",
    "CannedSynonym",
    "ChangeHistory",
    "ConfigOverride",
    "Conversation",
    "ConversationEvent",
    "ConversationStatus",
    "Evidence",
    "FormSession",
    "IdempotencyRecord",
    "InboundSms",
    "InvitationStatus",
    "Message",
    "Operator",
    "OperatorArea",
    "OperatorStatus",
    "Person",
    "Report",
    "ReportEvent",
    "ReportStatus",
    "Role",
    "SenderKind",
    "SmsMessage",
    "SmsStatus",
    "StaffSession",
    "SurveyInvitation",
    "SurveyResponse",
    "Team",
    "fact_build_state",
    "fact_contact_day",
    "metadata",
]
