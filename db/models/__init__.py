"""All tables. Importing this package registers every model on `Base.metadata` (Alembic needs that)."""

from db.base import Base
from db.models.audit import AuditEvent
from db.models.mail import OutboxMail

__all__ = ["AuditEvent", "Base", "OutboxMail"]
