"""Technical information: the SERMI approval flow, the document publishing flow and the portal
activities they call. Workflows, activities and the API meet here; none imports another.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import activity

from domain.languages import DEFAULT_LANGUAGE, Language
from domain.technical_information import DocumentVersionState, SermiApprovalState

SERMI_APPROVAL_WORKFLOW = "SermiApprovalWorkflow"
DOCUMENT_PUBLISHING_WORKFLOW = "DocumentPublishingWorkflow"


def sermi_approval_workflow_id(approval_id: str) -> str:
    return f"sermi-approval-{approval_id}"


def document_publishing_workflow_id(document_id: str, version: int) -> str:
    return f"document-publishing-{document_id}-v{version}"


# --- SERMI approvals ----------------------------------------------------------------------------


class SermiApprovalInput(BaseModel):
    approval_id: str
    user_id: str
    # The person's workshop (the flow's WorkshopId search attribute), if any.
    workshop_id: str | None = None
    recipient: str
    certificate_reference: str
    expires_at: datetime
    language: Language = DEFAULT_LANGUAGE  # the recipient's, when the approval was recorded


class SermiRevocation(BaseModel):
    reason: str = Field(min_length=1, max_length=200)


class SermiApprovalStatus(BaseModel):
    approval_id: str
    state: SermiApprovalState
    expires_at: datetime
    notice_sent: bool


class SermiSignal(StrEnum):
    REVOKED = "revoked"


SERMI_STATUS_QUERY = "status"


class EndSermiApprovalInput(BaseModel):
    approval_id: str
    reason: str
    at: datetime


@activity.defn(name="end_sermi_approval")
async def end_sermi_approval(request: EndSermiApprovalInput) -> bool:
    """Record the approval's end (False when it had ended already)."""
    raise NotImplementedError("runs on the portal worker: activities.technical_information")


# --- publishing ---------------------------------------------------------------------------------


class DocumentPublishingInput(BaseModel):
    document_id: str
    version: int


class ReviewInput(BaseModel):
    reviewer: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=500)


class DocumentPublishingStatus(BaseModel):
    document_id: str
    version: int
    state: DocumentVersionState
    superseded_version: int | None = None
    workshops_notified: int | None = None


class PublishingUpdate(StrEnum):
    SUBMIT_FOR_REVIEW = "submit_for_review"
    SEND_BACK = "send_back"
    PUBLISH = "publish"
    WITHDRAW = "withdraw"


PUBLISHING_STATUS_QUERY = "status"
SUPERSEDED_SIGNAL = "superseded"


class Superseded(BaseModel):
    by_version: int


class SetVersionStateInput(BaseModel):
    document_id: str
    version: int
    state: DocumentVersionState
    at: datetime


class VersionStateChanged(BaseModel):
    # Publishing: the version that was current before (now superseded), if any.
    superseded_version: int | None = None
    # Whether publishing this document tells the workshops of affected vehicles.
    notifies_workshops: bool = False


@activity.defn(name="set_document_version_state")
async def set_document_version_state(request: SetVersionStateInput) -> VersionStateChanged:
    """Store a version's new state; publishing supersedes the version current before."""
    raise NotImplementedError("runs on the portal worker: activities.technical_information")


class NotifyWorkshopsInput(BaseModel):
    document_id: str
    version: int
    at: datetime


class WorkshopsNotified(BaseModel):
    workshops: int


@activity.defn(name="notify_affected_workshops")
async def notify_affected_workshops(request: NotifyWorkshopsInput) -> WorkshopsNotified:
    """Mail every workshop that serviced a vehicle the document applies to in the last 12
    months (once per workshop and version, also when retried)."""
    raise NotImplementedError("runs on the portal worker: activities.technical_information")
