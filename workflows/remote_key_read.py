"""RemoteKeyReadWorkflow: a workshop asks a connected car for its key data.

requested → waiting (the backend has the request) → received | expired | cancelled. The
request goes to the connected-car backend (retried while the backend is away); the flow then
waits for the car's answer (signal `key_received`, from the portal's inbound endpoint) until
the deadline, 7 days unless configured. A received read enters the workshop's key table like a
USB key read, marked remote, and is announced to the workshop by mail. The workshop may cancel
while the flow waits (update `cancel`). Every state is written to the workshop's list.

Workflow id: `remote-key-read-<request id>` (contracts.remote_key_reads).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_failure
    from contracts.key_reads import KeyRecordView
    from contracts.remote_key_reads import (
        CANCEL_UPDATE,
        KEY_RECEIVED_SIGNAL,
        REMOTE_KEY_READ_STATUS_QUERY,
        REMOTE_KEY_READ_WORKFLOW,
        AnnounceRemoteKeyReadInput,
        CancelInput,
        KeyReceived,
        RecordRemoteKeyReadInput,
        RemoteKeyReadInput,
        RemoteKeyReadStatus,
        SendKeyReadRequestInput,
        announce_remote_key_read,
        record_remote_key_read,
        record_remote_key_read_request,
        send_remote_key_read_request,
    )
    from domain.remote_key_reads import RemoteKeyReadMachine, RemoteKeyReadState, ensure_open

DATABASE_STEP = timedelta(seconds=30)
BACKEND_CALL = timedelta(seconds=30)
# The backend may be away for a while: retried with backoff, up to a quarter of an hour apart,
# until the deadline.
BACKEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=15)
)


@workflow.defn(name=REMOTE_KEY_READ_WORKFLOW)
class RemoteKeyReadWorkflow:
    @workflow.init
    def __init__(self, request: RemoteKeyReadInput) -> None:
        self.request = request
        self.machine = RemoteKeyReadMachine()
        self.requested_at = workflow.now()
        self.deadline_at = self.requested_at + timedelta(seconds=request.deadline_seconds)
        self.received: KeyReceived | None = None
        self.cancel_requested = False
        self.ended_at: datetime | None = None
        self.key_record: KeyRecordView | None = None

    @property
    def state(self) -> RemoteKeyReadState:
        return cast(RemoteKeyReadState, self.machine.current_state_value)

    @workflow.run
    async def run(self, request: RemoteKeyReadInput) -> RemoteKeyReadStatus:
        workflow.upsert_search_attributes(
            [
                search_attributes.VIN.value_set(request.vin_search),
                search_attributes.WORKSHOP_ID.value_set(request.workshop_id),
                search_attributes.FLOW_STATE.value_set(self.state),
            ]
        )
        await self._record()
        sending = workflow.start_activity(
            send_remote_key_read_request,
            SendKeyReadRequestInput(
                request_id=request.request_id, vin=request.vin, deadline_at=self.deadline_at
            ),
            start_to_close_timeout=BACKEND_CALL,
            schedule_to_close_timeout=timedelta(seconds=request.deadline_seconds),
            retry_policy=BACKEND_RETRY,
        )
        answered = self._answered
        await workflow.wait_condition(lambda: answered() or sending.done())
        if not answered():
            try:
                await sending
            except ActivityError:
                pass  # the backend never took it before the deadline: expired below
            else:
                self._enter("sent")
                await self._record()
        left = self.deadline_at - workflow.now()
        if not answered() and left > timedelta(0):
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(answered, timeout=left)
        if self.received is not None:
            await self._store(self.received)
        elif self.cancel_requested:
            self._end("cancel")
        else:
            self._end("expire")
        if not sending.done():
            sending.cancel()
        await self._record()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()

    def _answered(self) -> bool:
        return self.received is not None or self.cancel_requested

    async def _store(self, received: KeyReceived) -> None:
        request = self.request
        self.key_record = await workflow.execute_activity(
            record_remote_key_read,
            RecordRemoteKeyReadInput(
                workshop_id=request.workshop_id, key=received.key, read_at=received.received_at
            ),
            start_to_close_timeout=DATABASE_STEP,
        )
        self._end("receive")
        await workflow.execute_activity(
            announce_remote_key_read,
            AnnounceRemoteKeyReadInput(
                request_id=request.request_id,
                workshop_id=request.workshop_id,
                vin=request.vin,
                key_record_id=self.key_record.key_record_id,
            ),
            start_to_close_timeout=DATABASE_STEP,
        )

    def _enter(self, event: str) -> None:
        self.machine.send(event)
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    def _end(self, event: str) -> None:
        self.ended_at = workflow.now()
        self._enter(event)

    async def _record(self) -> None:
        await workflow.execute_activity(
            record_remote_key_read_request, self.status(), start_to_close_timeout=DATABASE_STEP
        )

    @workflow.signal(name=KEY_RECEIVED_SIGNAL)
    def key_received(self, received: KeyReceived) -> None:
        """The car's answer. A key of another car, or one after the flow decided, is ignored."""
        if self.received is not None or self.cancel_requested or self.ended_at is not None:
            return
        if received.key.vin != self.request.vin:
            workflow.logger.warning("key of another VIN ignored for %s", self.request.request_id)
            return
        self.received = received

    @workflow.update(name=CANCEL_UPDATE)
    async def cancel(self, step: CancelInput) -> RemoteKeyReadStatus:
        """The workshop no longer waits for the car."""
        self.cancel_requested = True
        await workflow.wait_condition(lambda: self.ended_at is not None)
        return self.status()

    @cancel.validator
    def _validate_cancel(self, step: CancelInput) -> None:
        try:
            ensure_open(self.state if self.received is None else "received")
            if self.cancel_requested:
                ensure_open("cancelled")
        except Exception as error:
            raise domain_failure(error) from error

    @workflow.query(name=REMOTE_KEY_READ_STATUS_QUERY)
    def status(self) -> RemoteKeyReadStatus:
        request = self.request
        return RemoteKeyReadStatus(
            request_id=request.request_id,
            workflow_id=workflow.info().workflow_id,
            workshop_id=request.workshop_id,
            vin=request.vin,
            state=self.state,
            requested_at=self.requested_at,
            deadline_at=self.deadline_at,
            ended_at=self.ended_at,
            requested_by=request.requested_by,
            key_record=self.key_record,
        )
