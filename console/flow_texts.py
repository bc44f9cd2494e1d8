"""The operators' words for what Temporal and the flows report as identifiers: a flow's
status, type and business state, its state machine's events, and its history's event types.

Each is marked here (`N_`) so the catalogues hold it, and shown with the filters `flow_status`,
`flow_type`, `flow_state`, `flow_event` and `history_event` (`console.rendering`). A business
state's label is the state machine's own name of it (python-statemachine's, as the Mermaid
diagram writes it), and so is an event's: tests/console/test_console_flow_texts.py checks that
word for word, so the diagram's labels and these are one text. An identifier not listed here
is shown readable but in English (`activity_task_completed` -> "Activity task completed").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from console.i18n import N_, Translator

FLOW_STATUS_LABELS: Mapping[str, str] = {
    "running": N_("Running"),
    "completed": N_("Completed"),
    "failed": N_("Failed"),
    "canceled": N_("Canceled"),
    "terminated": N_("Terminated"),
    "continued_as_new": N_("Continued as new"),
    "timed_out": N_("Timed out"),
}

FLOW_TYPE_LABELS: Mapping[str, str] = {
    "RegistrationWorkflow": N_("Registration"),
    "ProgrammingSessionWorkflow": N_("Programming session"),
    "ServiceEntryWorkflow": N_("Service entry"),
    "ServiceEntryDeletionWorkflow": N_("Deletion of a service entry"),
    "KeyReadWorkflow": N_("Key read"),
    "TicketPurchaseWorkflow": N_("Ticket purchase"),
    "EntitlementWorkflow": N_("Access entitlement"),
    "PaymentWorkflow": N_("Payment"),
}

FLOW_STATE_LABELS: Mapping[str, str] = {
    # RegistrationMachine
    "submitted": N_("Submitted"),
    "email_verified": N_("Email verified"),
    "under_review": N_("Under review"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "abandoned": N_("Abandoned"),
    # ProgrammingMachine
    "checking_access": N_("Checking access"),
    "identifying": N_("Identifying"),
    "planning": N_("Planning"),
    "programming": N_("Programming"),
    "waiting_for_time": N_("Waiting for time"),
    "needs_technician": N_("Needs technician"),
    "completed": N_("Completed"),
    "aborted": N_("Aborted"),
    "refused": N_("Refused"),
    # ServiceEntryMachine
    "opened": N_("Opened"),
    "consent_recorded": N_("Consent recorded"),
    "details_entered": N_("Details entered"),
    "services_selected": N_("Services selected"),
    "created": N_("Created"),
    "written_to_vehicle": N_("Written to vehicle"),
    "closed": N_("Closed"),
    # TeleserviceTicketMachine ("closed" above)
    "new": N_("New"),
    "acknowledged": N_("Acknowledged"),
    "appointment_planned": N_("Appointment planned"),
    # RemoteKeyReadMachine ("waiting" and "expired" below)
    "requested": N_("Requested"),
    "received": N_("Received"),
    "cancelled": N_("Cancelled"),
    # SermiApprovalMachine ("active", "expired" below)
    "expiring": N_("Expiring"),
    "revoked": N_("Revoked"),
    # DocumentVersionMachine
    "draft": N_("Draft"),
    "review": N_("Review"),
    "published": N_("Published"),
    "superseded": N_("Superseded"),
    "withdrawn": N_("Withdrawn"),
    # flows without a state machine: key reads, deletions, purchases, entitlements
    "reading": N_("Reading"),
    "stored": N_("Stored"),
    "deleting": N_("Deleting"),
    "deleted": N_("Deleted"),
    "reserving": N_("Reserving"),
    "issuing": N_("Issuing"),
    "confirming": N_("Confirming"),
    "confirmed": N_("Confirmed"),
    "releasing": N_("Releasing"),
    "released": N_("Released"),
    # payments ("cancelled", "abandoned" above)
    "pending": N_("Pending"),
    "paid": N_("Paid"),
    "failed": N_("Failed"),
    "waiting": N_("Waiting"),
    "active": N_("Active"),
    "expired": N_("Expired"),
}

# The state machines' events, by the name the diagram writes.
FLOW_EVENT_NAMES = (
    N_("Verify email"),
    N_("Start review"),
    N_("Approve"),
    N_("Reject"),
    N_("Abandon"),
    N_("Access granted"),
    N_("Identified"),
    N_("Planned"),
    N_("Out of time"),
    N_("Time bought"),
    N_("Fault"),
    N_("Resumed"),
    N_("Finish"),
    N_("Abort"),
    N_("Refuse"),
    N_("Record consent"),
    N_("Enter details"),
    N_("Select services"),
    N_("Create entry"),
    N_("Write to vehicle"),
    N_("Close flow"),
    N_("Acknowledge"),
    N_("Plan appointment"),
    N_("Close"),
    N_("Sent"),
    N_("Receive"),
    N_("Expire"),
    N_("Cancel"),
    N_("Announce expiry"),
    N_("Revoke"),
    N_("Publish"),
    N_("Send back"),
    N_("Submit for review"),
    N_("Supersede"),
    N_("Withdraw"),
)

# Temporal's history event types, as the timeline names them (EVENT_TYPE_ dropped, lower case).
HISTORY_EVENT_LABELS: Mapping[str, str] = {
    "workflow_execution_started": N_("Flow started"),
    "workflow_execution_completed": N_("Flow completed"),
    "workflow_execution_failed": N_("Flow failed"),
    "workflow_execution_timed_out": N_("Flow timed out"),
    "workflow_execution_canceled": N_("Flow canceled"),
    "workflow_execution_cancel_requested": N_("Flow cancellation requested"),
    "workflow_execution_terminated": N_("Flow terminated"),
    "workflow_execution_continued_as_new": N_("Flow continued as new"),
    "workflow_execution_signaled": N_("Signal received"),
    "workflow_execution_update_admitted": N_("Update admitted"),
    "workflow_execution_update_accepted": N_("Update accepted"),
    "workflow_execution_update_rejected": N_("Update rejected"),
    "workflow_execution_update_completed": N_("Update completed"),
    "workflow_execution_options_updated": N_("Flow options updated"),
    "workflow_execution_paused": N_("Flow paused"),
    "workflow_execution_unpaused": N_("Flow unpaused"),
    "workflow_task_scheduled": N_("Workflow task scheduled"),
    "workflow_task_started": N_("Workflow task started"),
    "workflow_task_completed": N_("Workflow task completed"),
    "workflow_task_timed_out": N_("Workflow task timed out"),
    "workflow_task_failed": N_("Workflow task failed"),
    "activity_task_scheduled": N_("Activity task scheduled"),
    "activity_task_started": N_("Activity task started"),
    "activity_task_completed": N_("Activity task completed"),
    "activity_task_failed": N_("Activity task failed"),
    "activity_task_timed_out": N_("Activity task timed out"),
    "activity_task_cancel_requested": N_("Activity task cancellation requested"),
    "activity_task_canceled": N_("Activity task canceled"),
    "timer_started": N_("Timer started"),
    "timer_fired": N_("Timer fired"),
    "timer_canceled": N_("Timer canceled"),
    "marker_recorded": N_("Marker recorded"),
    "upsert_workflow_search_attributes": N_("Search attributes set"),
    "workflow_properties_modified": N_("Flow properties modified"),
    "start_child_workflow_execution_initiated": N_("Child flow start initiated"),
    "start_child_workflow_execution_failed": N_("Child flow start failed"),
    "child_workflow_execution_started": N_("Child flow started"),
    "child_workflow_execution_completed": N_("Child flow completed"),
    "child_workflow_execution_failed": N_("Child flow failed"),
    "child_workflow_execution_canceled": N_("Child flow canceled"),
    "child_workflow_execution_timed_out": N_("Child flow timed out"),
    "child_workflow_execution_terminated": N_("Child flow terminated"),
    "signal_external_workflow_execution_initiated": N_("Signal to another flow initiated"),
    "signal_external_workflow_execution_failed": N_("Signal to another flow failed"),
    "external_workflow_execution_signaled": N_("Another flow signalled"),
    "request_cancel_external_workflow_execution_initiated": N_(
        "Cancellation of another flow initiated"
    ),
    "request_cancel_external_workflow_execution_failed": N_("Cancellation of another flow failed"),
    "external_workflow_execution_cancel_requested": N_("Cancellation of another flow requested"),
}


def readable(identifier: str) -> str:
    """An identifier nobody gave words yet, readable: `timer_fired` -> "Timer fired"."""
    words = identifier.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _labelled(labels: Mapping[str, str]) -> Callable[[Translator, str | None], str]:
    def label(translate: Translator, identifier: str | None) -> str:
        if not identifier:
            return ""
        known = labels.get(identifier)
        return translate._(known) if known is not None else readable(identifier)

    return label


def _event_name(translate: Translator, name: str | None) -> str:
    return translate._(name) if name else ""


# filter name -> how it shows an identifier in the page's language
FLOW_FILTERS: Mapping[str, Callable[[Translator, str | None], str]] = {
    "flow_status": _labelled(FLOW_STATUS_LABELS),
    "flow_type": _labelled(FLOW_TYPE_LABELS),
    "flow_state": _labelled(FLOW_STATE_LABELS),
    "flow_event": _event_name,
    "history_event": _labelled(HISTORY_EVENT_LABELS),
}
