"""EntitlementWorkflow: one per workshop and service (`entitlement-<workshop>-<service>`).

It holds the coverage window built from the tickets it is told about, expires it with a
durable timer, mails the workshop before the end (lead time: `domain.entitlement.
EXPIRY_NOTICE_LEAD`), and tells subscribed workflows (programming sessions) with the signal
`coverage_extended` whenever coverage reaches further than before.

Talking to it:
- signal `ticket_issued` (TicketIssued), sent with signal-with-start by the
  `activate_entitlement` activity when a ticket is issued;
- signal `subscribe` / `unsubscribe` (Subscription) with the subscriber's workflow id; the
  subscriber then receives `coverage_extended` (CoverageExtended);
- query `coverage` (CoverageState).

The tickets table stays the record the access check reads; this workflow is the clock.
It continues as new when the server suggests it (or past `history_length_limit`) and ends
after `IDLE_LIMIT` without coverage; the next ticket starts it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.access import (
        COVERAGE_EXTENDED_SIGNAL,
        COVERAGE_QUERY,
        ENTITLEMENT_WORKFLOW,
        CoverageExtended,
        CoverageState,
        EntitlementFlowState,
        EntitlementInput,
        EntitlementSignal,
        Subscription,
        TicketIssued,
        TicketWindow,
    )
    from contracts.mail import MailMessage, send_mail
    from domain.catalogue import Service, TicketPeriod, service_name
    from domain.entitlement import (
        CoverageWindow,
        coverage_at,
        expiry_notice_at,
        last_coverage_end,
    )
    from domain.languages import DEFAULT_LANGUAGE, local_datetime
    from domain.mail_texts import MailKind, mail_text

IDLE_LIMIT = timedelta(days=90)


@workflow.defn(name=ENTITLEMENT_WORKFLOW)
class EntitlementWorkflow:
    def __init__(self) -> None:
        self._tickets: dict[str, TicketWindow] = {}
        self._subscribers: list[str] = []
        self._notices_sent: list[datetime] = []
        self._notify_email: str | None = None
        self._notify_language = DEFAULT_LANGUAGE
        self._last_ended_at: datetime | None = None
        self._changed = False
        self._state: EntitlementFlowState = "waiting"
        self._announced_end: datetime | None = None
        self._workshop_id = ""
        self._service = Service.TECHNICAL_INFORMATION

    # --- signals and query ------------------------------------------------------------------

    @workflow.signal(name=EntitlementSignal.TICKET_ISSUED)
    def ticket_issued(self, issued: TicketIssued) -> None:
        if issued.ticket.ticket_id not in self._tickets:
            self._tickets[issued.ticket.ticket_id] = issued.ticket
            self._changed = True
        if issued.notify_email:
            self._notify_email = issued.notify_email
            self._notify_language = issued.notify_language

    @workflow.signal(name=EntitlementSignal.SUBSCRIBE)
    def subscribe(self, subscription: Subscription) -> None:
        if subscription.workflow_id not in self._subscribers:
            self._subscribers.append(subscription.workflow_id)

    @workflow.signal(name=EntitlementSignal.UNSUBSCRIBE)
    def unsubscribe(self, subscription: Subscription) -> None:
        if subscription.workflow_id in self._subscribers:
            self._subscribers.remove(subscription.workflow_id)

    @workflow.query(name=COVERAGE_QUERY)
    def coverage(self) -> CoverageState:
        window = self._window(workflow.now())
        return CoverageState(
            workshop_id=self._workshop_id,
            service=self._service,
            state=self._state,
            starts_at=window.starts_at if window else None,
            ends_at=window.ends_at if window else None,
            last_ended_at=self._last_ended_at,
            subscribers=list(self._subscribers),
            notices_sent=list(self._notices_sent),
        )

    # --- the clock --------------------------------------------------------------------------

    def _windows(self) -> list[CoverageWindow]:
        return [CoverageWindow(t.starts_at, t.ends_at) for t in self._tickets.values()]

    def _window(self, at: datetime) -> CoverageWindow | None:
        return coverage_at(self._windows(), at)

    def _forget_ended(self, now: datetime) -> None:
        ended = last_coverage_end(self._windows(), now)
        if ended is not None and (self._last_ended_at is None or ended > self._last_ended_at):
            self._last_ended_at = ended
        self._tickets = {k: t for k, t in self._tickets.items() if t.ends_at > now}
        self._notices_sent = [end for end in self._notices_sent if end > now]

    def _set_state(self, state: EntitlementFlowState) -> None:
        self._state = state
        workflow.upsert_search_attributes(
            [
                search_attributes.WORKSHOP_ID.value_set(self._workshop_id),
                search_attributes.FLOW_STATE.value_set(state),
            ]
        )

    async def _wait_for_change(self, timeout: timedelta) -> bool:  # noqa: ASYNC109
        try:
            await workflow.wait_condition(
                lambda: self._changed, timeout=max(timeout, timedelta(milliseconds=1))
            )
        except TimeoutError:
            return False
        self._changed = False
        return True

    def _continue_as_new_due(self, limit: int | None) -> bool:
        info = workflow.info()
        return info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit
        )

    async def _tell_subscribers(self, window: CoverageWindow) -> None:
        extended = CoverageExtended(
            workshop_id=self._workshop_id,
            service=self._service,
            starts_at=window.starts_at,
            ends_at=window.ends_at,
        )
        for workflow_id in list(self._subscribers):
            try:
                await workflow.get_external_workflow_handle(workflow_id).signal(
                    COVERAGE_EXTENDED_SIGNAL, extended
                )
            except Exception:  # the subscriber has finished: nobody to tell any more
                workflow.logger.info("dropping subscriber %s", workflow_id)
                self._subscribers.remove(workflow_id)

    async def _send_expiry_notice(self, window: CoverageWindow) -> None:
        self._notices_sent.append(window.ends_at)
        if not self._notify_email:
            return
        remaining = window.ends_at - workflow.now()
        minutes = max(1, round(remaining.total_seconds() / 60))
        text = mail_text(
            MailKind.ACCESS_EXPIRY,
            self._notify_language,
            workshop_id=self._workshop_id,
            service=service_name(self._service, self._notify_language),
            ends_at=local_datetime(window.ends_at, self._notify_language),
            minutes=minutes,
        )
        await workflow.execute_activity(
            send_mail,
            MailMessage(
                message_key=f"{workflow.info().workflow_id}/expiry/{window.ends_at.isoformat()}",
                recipient=self._notify_email,
                subject=text.subject,
                body=text.body,
                category="access-expiry",
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )

    def _last_period(self, window: CoverageWindow) -> TicketPeriod:
        last = max(
            (t for t in self._tickets.values() if t.ends_at == window.ends_at),
            key=lambda t: t.starts_at,
        )
        return last.period

    @workflow.run
    async def run(self, start: EntitlementInput) -> CoverageState:
        self._workshop_id, self._service = start.workshop_id, start.service
        self._subscribers = list(start.subscribers)
        self._notices_sent = list(start.notices_sent)
        self._notify_email = start.notify_email
        self._notify_language = start.notify_language
        self._last_ended_at = start.last_ended_at
        self._announced_end = start.announced_end
        for ticket in start.tickets:
            self._tickets.setdefault(ticket.ticket_id, ticket)
        self._set_state("waiting")

        while True:
            now = workflow.now()
            self._forget_ended(now)
            window = self._window(now)
            state: EntitlementFlowState = (
                "active" if window else ("expired" if self._last_ended_at else "waiting")
            )
            if state != self._state:
                self._set_state(state)
            if window is not None and (
                self._announced_end is None or window.ends_at > self._announced_end
            ):
                await self._tell_subscribers(window)
                self._announced_end = window.ends_at

            if self._continue_as_new_due(start.history_length_limit):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    EntitlementInput(
                        workshop_id=self._workshop_id,
                        service=self._service,
                        tickets=list(self._tickets.values()),
                        notify_email=self._notify_email,
                        notify_language=self._notify_language,
                        subscribers=self._subscribers,
                        notices_sent=self._notices_sent,
                        last_ended_at=self._last_ended_at,
                        announced_end=self._announced_end,
                        history_length_limit=start.history_length_limit,
                    )
                )

            if window is None:
                self._announced_end = None
                if not await self._wait_for_change(IDLE_LIMIT):
                    await workflow.wait_condition(workflow.all_handlers_finished)
                    return self.coverage()
                continue

            notice_at = expiry_notice_at(window.ends_at, self._last_period(window))
            if window.ends_at not in self._notices_sent and now >= notice_at:
                await self._send_expiry_notice(window)
                continue
            wake_at = notice_at if window.ends_at not in self._notices_sent else window.ends_at
            await self._wait_for_change(wake_at - now)
