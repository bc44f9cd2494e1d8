"""All tables. Importing this package registers every model on `Base.metadata` (Alembic needs that)."""

from db.base import Base
from db.models.accounts import AuthSession, OneTimeToken, RecoveryCode, User, Workshop
from db.models.audit import AuditEvent
from db.models.mail import OutboxMail
from db.models.registrations import Registration

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Base",
    "OneTimeToken",
    "OutboxMail",
    "RecoveryCode",
    "Registration",
    "User",
    "Workshop",
]
