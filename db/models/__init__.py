"""All tables. Importing this package registers every model on `Base.metadata` (Alembic needs that)."""

from db.base import Base
from db.models.access import (
    CreditAccount,
    LedgerEntry,
    PriceChange,
    Ticket,
    TicketPurchase,
    Voucher,
)
from db.models.accounts import AuthSession, OneTimeToken, RecoveryCode, User, Workshop
from db.models.audit import AuditEvent
from db.models.mail import OutboxMail
from db.models.registrations import Registration

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Base",
    "CreditAccount",
    "LedgerEntry",
    "OneTimeToken",
    "OutboxMail",
    "PriceChange",
    "RecoveryCode",
    "Registration",
    "Ticket",
    "TicketPurchase",
    "User",
    "Voucher",
    "Workshop",
]
