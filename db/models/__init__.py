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
from db.models.accounts import (
    AuthSession,
    OneTimeToken,
    PendingSignIn,
    RecoveryCode,
    SignInFailureRecord,
    User,
    Workshop,
)
from db.models.audit import AuditEvent
from db.models.invoices import Invoice, InvoiceCounter, Payment
from db.models.mail import OutboxMail
from db.models.programming_reports import ProgrammingReport
from db.models.registrations import Registration
from db.models.service_history import (
    KeyRecord,
    ServiceEntry,
    Station,
    Vehicle,
    VehicleCbsItem,
    VehicleTechnicalAction,
)
from db.models.technical_information import (
    SermiApproval,
    TechDocument,
    TechDocumentApplicability,
    TechDocumentText,
    TechDocumentVersion,
    TechDocumentView,
)
from db.models.teleservices import InboundMessage, RemoteKeyReadRequest, TeleserviceTicketRecord

__all__ = [
    "AuditEvent",
    "AuthSession",
    "Base",
    "CreditAccount",
    "InboundMessage",
    "Invoice",
    "InvoiceCounter",
    "KeyRecord",
    "LedgerEntry",
    "OneTimeToken",
    "OutboxMail",
    "Payment",
    "PendingSignIn",
    "PriceChange",
    "ProgrammingReport",
    "RecoveryCode",
    "Registration",
    "RemoteKeyReadRequest",
    "SermiApproval",
    "ServiceEntry",
    "SignInFailureRecord",
    "Station",
    "TechDocument",
    "TechDocumentApplicability",
    "TechDocumentText",
    "TechDocumentVersion",
    "TechDocumentView",
    "TeleserviceTicketRecord",
    "Ticket",
    "TicketPurchase",
    "User",
    "Vehicle",
    "VehicleCbsItem",
    "VehicleTechnicalAction",
    "Voucher",
    "Workshop",
]
