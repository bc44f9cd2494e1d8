"""The portal worker: every workflow, and the activities that touch the database, mail,
payments and packages, on the `portal` queue.

It imports no vehicle transport and no simulator: the hardware steps of a flow run on the
station worker of the station it started at (station/worker.py).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.access import AccessActivities
from activities.key_reads import KeyTableActivities
from activities.mail import MailActivities
from activities.packages import PackageActivities
from activities.payments import PaymentActivities
from activities.registration import FormatVatChecker, RegistrationActivities
from activities.service_history import ServiceHistoryActivities
from activities.technical_information import TechnicalInformationActivities
from activities.teleservices import RemoteKeyReadActivities, TeleserviceActivities
from db.access_repository import AccessRepository
from db.accounts import AccountRepository
from db.document_audience import DocumentAudienceRepository
from db.invoices import InvoiceRepository
from db.sermi_approvals import SermiApprovalRepository
from db.service_history import ServiceHistoryRepository
from db.technical_information import TechnicalInformationRepository
from db.teleservices import TeleserviceRepository
from mail.senders import mail_sender_for
from settings import Settings
from storage.packages import PackageStore
from workflows.document_publishing import DocumentPublishingWorkflow
from workflows.entitlement import EntitlementWorkflow
from workflows.key_read import KeyReadWorkflow
from workflows.payment import PaymentWorkflow
from workflows.programming_session import ProgrammingSessionWorkflow
from workflows.registration import RegistrationWorkflow
from workflows.remote_key_read import RemoteKeyReadWorkflow
from workflows.sermi_approval import SermiApprovalWorkflow
from workflows.service_entry import ServiceEntryDeletionWorkflow, ServiceEntryWorkflow
from workflows.teleservice_ticket import TeleserviceTicketWorkflow
from workflows.ticket_purchase import TicketPurchaseWorkflow

# Pure modules the workflows use; loading them once outside the sandbox is faster and keeps
# their lazy imports (email validation, state machines) out of workflow code paths.
SANDBOX_PASSTHROUGH = ("pydantic", "email_validator", "idna", "statemachine", "domain", "contracts")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*SANDBOX_PASSTHROUGH)
    )


# Every workflow of the product; the portal worker runs them, the replay tests check them.
PORTAL_WORKFLOWS: Sequence[type] = (
    RegistrationWorkflow,
    TicketPurchaseWorkflow,
    EntitlementWorkflow,
    ProgrammingSessionWorkflow,
    ServiceEntryWorkflow,
    ServiceEntryDeletionWorkflow,
    KeyReadWorkflow,
    TeleserviceTicketWorkflow,
    RemoteKeyReadWorkflow,
    SermiApprovalWorkflow,
    DocumentPublishingWorkflow,
    PaymentWorkflow,
)


@dataclass
class PortalDependencies:
    """What the portal's activities are given instead of reaching for globals."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]


def portal_activities(deps: PortalDependencies) -> Sequence[Callable[..., Any]]:
    """The activities of the portal worker, each the implementation of a stub in contracts/."""
    sender = mail_sender_for(deps.settings, deps.session_factory)
    mail = MailActivities(sender)
    registration = RegistrationActivities(
        AccountRepository(deps.session_factory), sender, FormatVatChecker()
    )
    packages = PackageActivities(PackageStore(deps.settings.packages_dir))
    access = AccessActivities(AccessRepository(deps.session_factory))
    payments = PaymentActivities(InvoiceRepository(deps.session_factory), deps.settings.seller())
    service_history = ServiceHistoryActivities(ServiceHistoryRepository(deps.session_factory))
    key_table = KeyTableActivities(
        ServiceHistoryRepository(deps.session_factory), deps.settings.vin_search_value
    )
    teleservices = TeleserviceActivities(
        TeleserviceRepository(deps.session_factory),
        AccountRepository(deps.session_factory),
        sender,
    )
    remote_key_reads = RemoteKeyReadActivities(
        TeleserviceRepository(deps.session_factory),
        ServiceHistoryRepository(deps.session_factory),
        sender,
        deps.settings.connected_car_backend_url,
        deps.settings.teleservice_secret,
    )
    technical_information = TechnicalInformationActivities(
        TechnicalInformationRepository(deps.session_factory),
        SermiApprovalRepository(deps.session_factory),
        DocumentAudienceRepository(deps.session_factory),
        sender,
    )
    return [
        mail.send_mail,
        access.reserve_credit,
        access.issue_ticket,
        access.activate_entitlement,
        access.confirm_purchase,
        access.release_credit,
        access.check_entitlement,
        access.remaining_coverage,
        payments.credit_payment,
        payments.settle_payment,
        payments.issue_ticket_invoice,
        registration.check_vat_id,
        registration.record_registration_state,
        registration.create_workshop_and_owner,
        registration.notify_reviewers,
        packages.read_verified_manifest,
        service_history.record_service_entry,
        service_history.mark_written_to_vehicle,
        service_history.load_service_entry_facts,
        service_history.delete_service_entry,
        key_table.record_key_read,
        teleservices.record_teleservice_ticket,
        teleservices.send_teleservice_ticket_notice,
        teleservices.find_open_teleservice_tickets,
        remote_key_reads.send_remote_key_read_request,
        remote_key_reads.record_remote_key_read,
        remote_key_reads.record_remote_key_read_request,
        remote_key_reads.announce_remote_key_read,
        technical_information.end_sermi_approval,
        technical_information.set_document_version_state,
        technical_information.notify_affected_workshops,
    ]


def portal_worker(client: Client, deps: PortalDependencies, task_queue: str) -> Worker:
    """All workflows and the activities that touch the database, mail and payments."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=PORTAL_WORKFLOWS,
        activities=portal_activities(deps),
        workflow_runner=workflow_runner(),
        # Package verification reads and hashes files: a blocking activity, in threads.
        activity_executor=concurrent.futures.ThreadPoolExecutor(max_workers=8),
    )
