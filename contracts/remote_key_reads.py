"""Remote key reads: the RemoteKeyReadWorkflow, its signal and update, and its activities.

Workflow id `remote-key-read-<request id>`. The portal sends the request to the connected-car
backend (signed, Standard Webhooks); the backend answers, whenever the car wakes up, with a
signed `key_read` message to the portal's inbound endpoint, which signals the flow.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from temporalio import activity

from contracts.key_reads import KeyRecordView
from domain.key_data import KeyData
from domain.remote_key_reads import RemoteKeyReadState

REMOTE_KEY_READ_WORKFLOW = "RemoteKeyReadWorkflow"
KEY_RECEIVED_SIGNAL = "key_received"
CANCEL_UPDATE = "cancel"
REMOTE_KEY_READ_STATUS_QUERY = "status"


def remote_key_read_workflow_id(request_id: str) -> str:
    return f"remote-key-read-{request_id}"


class RemoteKeyReadInput(BaseModel):
    request_id: str
    workshop_id: str
    vin: str
    vin_search: str
    requested_by: str
    deadline_seconds: int
    owner_consent_version: str | None = None  # recorded when the workshop is not the partner


class KeyReceived(BaseModel):
    """The car's key data, as the backend delivered it (signal `key_received`)."""

    message_id: str
    key: KeyData
    received_at: datetime


class CancelInput(BaseModel):
    cancelled_by: str = ""


class RemoteKeyReadStatus(BaseModel):
    request_id: str
    workflow_id: str
    workshop_id: str
    vin: str
    state: RemoteKeyReadState
    requested_at: datetime
    deadline_at: datetime
    ended_at: datetime | None = None
    requested_by: str
    key_record: KeyRecordView | None = None


# --- activities (portal worker: activities.teleservices) ---------------------------------------


class SendKeyReadRequestInput(BaseModel):
    request_id: str
    vin: str
    deadline_at: datetime


class RecordRemoteKeyReadInput(BaseModel):
    workshop_id: str
    key: KeyData
    read_at: datetime


class AnnounceRemoteKeyReadInput(BaseModel):
    request_id: str
    workshop_id: str
    vin: str
    key_record_id: int


_PORTAL = "runs on the portal worker: activities.teleservices"


class BackendAnswer(StrEnum):
    ACCEPTED = "accepted"


@activity.defn(name="send_remote_key_read_request")
async def send_remote_key_read_request(request: SendKeyReadRequestInput) -> BackendAnswer:
    """Deliver the request to the connected-car backend, signed; retried until it answers."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="record_remote_key_read")
async def record_remote_key_read(request: RecordRemoteKeyReadInput) -> KeyRecordView:
    """Store the key data in the workshop's key table like a USB key read, marked remote."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="record_remote_key_read_request")
async def record_remote_key_read_request(status: RemoteKeyReadStatus) -> None:
    """Write the request's state into the workshop's list of remote key-read requests."""
    raise NotImplementedError(_PORTAL)


@activity.defn(name="announce_remote_key_read")
async def announce_remote_key_read(request: AnnounceRemoteKeyReadInput) -> None:
    """Tell the workshop a remote read arrived (outbox mail), once."""
    raise NotImplementedError(_PORTAL)
