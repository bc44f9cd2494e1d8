"""Adding credit through the payment provider, and the invoices page.

"Add credit" shows the price confirmation (credit, VAT, total: `application.payments`);
"Confirm and pay" starts the payment (PaymentWorkflow) and leads to the payment's page, from
where the payer goes to the provider's hosted page (a link: the console's forms post only to
the console). The provider sends the payer back to the same page, which shows the outcome the
provider's callback brought (it refreshes itself while the payment is pending).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response

from application import invoices as invoice_cases
from application import payments as payment_cases
from application.authorization import ensure_owner
from console.deps import CsrfChecked, Translate, WorkshopMember
from console.forms import FormErrors
from console.i18n import N_
from console.rendering import render
from console.routes.access import CreditForms, amount_error, credit_page, parse_amount
from domain.credit import MAX_TOP_UP_CENTS, InvalidAmount
from domain.invoices import VatTreatment, rate_percent
from domain.payments import PAYMENT_ID_PATTERN, PaymentState
from web.deps import ResourcesDep

router = APIRouter(prefix="/console", include_in_schema=False)

TREATMENT_NAMES = {
    VatTreatment.DOMESTIC: N_("VAT of the seller's country"),
    VatTreatment.BUYER_COUNTRY: N_("VAT of your country (no valid VAT id)"),
    VatTreatment.REVERSE_CHARGE: N_("Reverse charge: you account for the VAT"),
    VatTreatment.OUTSIDE_EU: N_("Not subject to EU VAT"),
    VatTreatment.PREPAID: N_("Paid from credit: VAT was charged when the credit was bought"),
}
PAYMENT_STATE_NAMES = {
    PaymentState.PENDING: N_("Waiting for the payment provider"),
    PaymentState.PAID: N_("Paid: the credit was added"),
    PaymentState.FAILED: N_("The payment failed. Nothing was charged and no credit was added."),
    PaymentState.CANCELLED: N_("The payment was cancelled. No credit was added."),
    PaymentState.ABANDONED: N_(
        "The payment was not completed in time. No credit was added; start again if you wish."
    ),
}
PaymentIdPath = Annotated[str, Path(max_length=36, pattern=PAYMENT_ID_PATTERN)]
NumberPath = Annotated[str, Path(min_length=11, max_length=11, pattern=r"^\d{4}-\d{6}$")]


def _payment_url(request: Request, payment_id: str) -> str:
    return str(request.base_url).rstrip("/") + f"/console/credit/payments/{payment_id}"


@router.post("/credit/top-up")
async def top_up(
    request: Request,
    _: CsrfChecked,
    person: WorkshopMember,
    resources: ResourcesDep,
    translate: Translate,
    amount: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The price confirmation of a top-up: nothing is charged yet."""
    ensure_owner(person.user, person.workshop_id)
    try:
        cents = parse_amount(translate, amount)
    except InvalidAmount:
        errors = FormErrors()
        errors.add("amount", amount_error(translate))
        return await credit_page(
            request, person, resources, CreditForms(amount=amount, errors=errors)
        )
    quote = await payment_cases.quote_top_up(resources, person.user, person.workshop_id, cents)
    return render(
        request,
        "payments/confirm_top_up.html",
        {
            "quote": quote,
            "treatment": TREATMENT_NAMES[quote.decision.treatment],
            "rate": translate.number(rate_percent(quote.decision.rate_bp)),
            "here": "/console/credit",
        },
    )


@router.post("/credit/payments")
async def start_payment(
    request: Request,
    _: CsrfChecked,
    person: WorkshopMember,
    resources: ResourcesDep,
    amount_cents: Annotated[int, Form(gt=0, le=MAX_TOP_UP_CENTS)],
) -> Response:
    """The confirmed top-up: a payment at the provider, nothing credited until it confirms."""
    started = await payment_cases.start_top_up(
        resources,
        person.user,
        person.workshop_id,
        amount_cents,
        _payment_url(request, "{payment_id}"),
    )
    return RedirectResponse(f"/console/credit/payments/{started.payment.id}", status_code=303)


@router.get("/credit/payments/{payment_id}")
async def payment(
    request: Request, payment_id: PaymentIdPath, person: WorkshopMember, resources: ResourcesDep
) -> Response:
    """One payment: the way to the provider's page while it is pending, then its outcome.
    Another workshop's payment is the "not found" page."""
    found = await payment_cases.workshop_payment(
        resources, person.user, person.workshop_id, payment_id
    )
    state = PaymentState(found.state)
    return render(
        request,
        "payments/payment.html",
        {
            "payment": found,
            "state": state.value,
            "state_text": PAYMENT_STATE_NAMES[state],
            "checkout_url": payment_cases.checkout_url(
                resources.settings, found, _payment_url(request, found.id)
            )
            if state is PaymentState.PENDING
            else None,
            "here": f"/console/credit/payments/{found.id}",
        },
    )


@router.get("/invoices")
async def invoice_list(
    request: Request, person: WorkshopMember, resources: ResourcesDep
) -> Response:
    """The workshop's invoices and credit notes, each with its PDF."""
    found = await invoice_cases.workshop_invoices(resources, person.user, person.workshop_id)
    return render(request, "payments/invoices.html", {"invoices": found})


@router.get("/invoices/{number}.pdf")
async def invoice_document(
    number: NumberPath, person: WorkshopMember, resources: ResourcesDep, translate: Translate
) -> Response:
    """The invoice as a PDF in the page's language, dates in the console's time zone."""
    pdf = await invoice_cases.invoice_pdf(
        resources, person.user, person.workshop_id, number, translate
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="invoice-{number}.pdf"'},
    )
