"""PaymentWorkflow: a top-up paid on the provider's hosted page.

pending -> paid (credited and invoiced) | failed | cancelled | abandoned

Id `payment-<payment id>` (`payment_workflow_id`), started when the workshop confirms the price.
It waits for the provider's outcome, which the callback endpoint passes on as the
`provider_outcome` signal once the callback's signature is verified. The first outcome counts; a
repeated callback (a provider retries until it is answered) changes nothing, and crediting is
idempotent by the payment id in the ledger as well. Without an outcome within `abandon_after`
the payment is abandoned: nothing is credited.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from contracts import search_attributes
    from contracts.payments import (
        PAYMENT_STATE_QUERY,
        PAYMENT_WORKFLOW,
        PROVIDER_OUTCOME_SIGNAL,
        CreditPaymentInput,
        PaymentInput,
        PaymentResult,
        ProviderOutcomeSignal,
        SettlePaymentInput,
        credit_payment,
        settle_payment,
    )
    from domain.payments import OUTCOME_STATE, PaymentState, ProviderOutcome

DATABASE_STEP = timedelta(seconds=30)
# Crediting and recording must finish: retried until they do.
KEEP_TRYING = RetryPolicy(maximum_interval=timedelta(seconds=30))


@workflow.defn(name=PAYMENT_WORKFLOW)
class PaymentWorkflow:
    def __init__(self) -> None:
        self._state = PaymentState.PENDING
        self._outcome: ProviderOutcomeSignal | None = None

    @workflow.query(name=PAYMENT_STATE_QUERY)
    def state(self) -> str:
        return self._state.value

    @workflow.signal(name=PROVIDER_OUTCOME_SIGNAL)
    def provider_outcome(self, outcome: ProviderOutcomeSignal) -> None:
        if self._outcome is None:  # the first outcome counts
            self._outcome = outcome

    def _set_state(self, state: PaymentState) -> None:
        self._state = state
        workflow.upsert_search_attributes([search_attributes.FLOW_STATE.value_set(state.value)])

    @workflow.run
    async def run(self, request: PaymentInput) -> PaymentResult:
        self._set_state(PaymentState.PENDING)
        try:
            await workflow.wait_condition(
                lambda: self._outcome is not None, timeout=request.abandon_after
            )
        except TimeoutError:
            return await self._settle(request, PaymentState.ABANDONED)
        assert self._outcome is not None
        if self._outcome.outcome is not ProviderOutcome.PAID:
            return await self._settle(request, OUTCOME_STATE[self._outcome.outcome])
        credited = await workflow.execute_activity(
            credit_payment,
            CreditPaymentInput(
                payment_id=request.payment_id,
                provider_reference=self._outcome.provider_reference,
            ),
            start_to_close_timeout=DATABASE_STEP,
            retry_policy=KEEP_TRYING,
        )
        self._set_state(PaymentState.PAID)
        return PaymentResult(
            payment_id=request.payment_id,
            state=PaymentState.PAID,
            invoice_number=credited.invoice_number,
        )

    async def _settle(self, request: PaymentInput, state: PaymentState) -> PaymentResult:
        await workflow.execute_activity(
            settle_payment,
            SettlePaymentInput(payment_id=request.payment_id, state=state),
            start_to_close_timeout=DATABASE_STEP,
            retry_policy=KEEP_TRYING,
        )
        self._set_state(state)
        return PaymentResult(payment_id=request.payment_id, state=state)
