"""DocumentPublishingWorkflow: one per document version
(`document-publishing-<document_id>-v<version>`), from draft to published and, later,
superseded or withdrawn.

Human steps are updates with validators (a step out of order is refused before it reaches
history, 409 `wrong-document-version-state`): `submit_for_review`, `send_back`, `publish`,
`withdraw`. Publishing stores the state (the version published before is superseded and its own
flow told with the signal `superseded`) and, for a service bulletin or a technical campaign,
mails the workshops that serviced an affected vehicle in the last 12 months. The flow ends when
the version is superseded or withdrawn.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import cast

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.errors import domain_failure
    from contracts.technical_information import (
        DOCUMENT_PUBLISHING_WORKFLOW,
        PUBLISHING_STATUS_QUERY,
        SUPERSEDED_SIGNAL,
        DocumentPublishingInput,
        DocumentPublishingStatus,
        NotifyWorkshopsInput,
        PublishingUpdate,
        ReviewInput,
        SetVersionStateInput,
        Superseded,
        document_publishing_workflow_id,
        notify_affected_workshops,
        set_document_version_state,
    )
    from domain.technical_information import (
        DocumentVersionMachine,
        DocumentVersionState,
        WrongVersionState,
    )

ACTIVITY_TIMEOUT = timedelta(seconds=60)

# The state each step leads to, and the machine's event for it.
_STEPS: dict[str, tuple[str, DocumentVersionState]] = {
    PublishingUpdate.SUBMIT_FOR_REVIEW: ("submit_for_review", "review"),
    PublishingUpdate.SEND_BACK: ("send_back", "draft"),
    PublishingUpdate.PUBLISH: ("publish", "published"),
    PublishingUpdate.WITHDRAW: ("withdraw", "withdrawn"),
}


@workflow.defn(name=DOCUMENT_PUBLISHING_WORKFLOW)
class DocumentPublishingWorkflow:
    def __init__(self) -> None:
        self.machine = DocumentVersionMachine()
        self.start: DocumentPublishingInput | None = None
        self.busy = False
        self.superseded_version: int | None = None
        self.workshops_notified: int | None = None

    @property
    def state(self) -> DocumentVersionState:
        return cast(DocumentVersionState, self.machine.current_state_value)

    @workflow.query(name=PUBLISHING_STATUS_QUERY)
    def status(self) -> DocumentPublishingStatus:
        assert self.start is not None
        return DocumentPublishingStatus(
            document_id=self.start.document_id,
            version=self.start.version,
            state=self.state,
            superseded_version=self.superseded_version,
            workshops_notified=self.workshops_notified,
        )

    def _check(self, step: str) -> None:
        event, _ = _STEPS[step]
        allowed = {e.id for e in self.machine.allowed_events}
        if self.busy or event not in allowed:
            raise domain_failure(
                WrongVersionState(
                    f"a version in state {self.state} cannot {event.replace('_', ' ')}",
                    state=self.state,
                )
            )

    async def _step(self, step: str) -> DocumentPublishingStatus:
        assert self.start is not None
        self.busy = True
        event, target = _STEPS[step]
        changed = await workflow.execute_activity(
            set_document_version_state,
            SetVersionStateInput(
                document_id=self.start.document_id,
                version=self.start.version,
                state=target,
                at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
        )
        self.machine.send(event)
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])
        if step == PublishingUpdate.PUBLISH:
            self.superseded_version = changed.superseded_version
            if changed.superseded_version is not None:
                # The earlier version's own flow, if it had one (the demo corpus has none).
                with contextlib.suppress(Exception):
                    await workflow.get_external_workflow_handle(
                        document_publishing_workflow_id(
                            self.start.document_id, changed.superseded_version
                        )
                    ).signal(SUPERSEDED_SIGNAL, Superseded(by_version=self.start.version))
            if changed.notifies_workshops:
                notified = await workflow.execute_activity(
                    notify_affected_workshops,
                    NotifyWorkshopsInput(
                        document_id=self.start.document_id,
                        version=self.start.version,
                        at=workflow.now(),
                    ),
                    start_to_close_timeout=timedelta(minutes=5),
                )
                self.workshops_notified = notified.workshops
        self.busy = False
        return self.status()

    @workflow.update(name=PublishingUpdate.SUBMIT_FOR_REVIEW)
    async def submit_for_review(self, review: ReviewInput) -> DocumentPublishingStatus:
        return await self._step(PublishingUpdate.SUBMIT_FOR_REVIEW)

    @submit_for_review.validator
    def _validate_submit(self, review: ReviewInput) -> None:
        self._check(PublishingUpdate.SUBMIT_FOR_REVIEW)

    @workflow.update(name=PublishingUpdate.SEND_BACK)
    async def send_back(self, review: ReviewInput) -> DocumentPublishingStatus:
        return await self._step(PublishingUpdate.SEND_BACK)

    @send_back.validator
    def _validate_send_back(self, review: ReviewInput) -> None:
        self._check(PublishingUpdate.SEND_BACK)

    @workflow.update(name=PublishingUpdate.PUBLISH)
    async def publish(self, review: ReviewInput) -> DocumentPublishingStatus:
        return await self._step(PublishingUpdate.PUBLISH)

    @publish.validator
    def _validate_publish(self, review: ReviewInput) -> None:
        self._check(PublishingUpdate.PUBLISH)

    @workflow.update(name=PublishingUpdate.WITHDRAW)
    async def withdraw(self, review: ReviewInput) -> DocumentPublishingStatus:
        return await self._step(PublishingUpdate.WITHDRAW)

    @withdraw.validator
    def _validate_withdraw(self, review: ReviewInput) -> None:
        self._check(PublishingUpdate.WITHDRAW)

    @workflow.signal(name=SUPERSEDED_SIGNAL)
    def superseded(self, by: Superseded) -> None:
        """A newer version was published (which stored this one as superseded)."""
        if self.state == "published":
            self.machine.send("supersede")
            workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])

    @workflow.run
    async def run(self, start: DocumentPublishingInput) -> DocumentPublishingStatus:
        self.start = start
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(self.state)])
        await workflow.wait_condition(lambda: self.state in ("superseded", "withdrawn"))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.status()
