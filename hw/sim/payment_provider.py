"""A simulated payment provider with a hosted payment page, as a small HTTP service of its own,
standing in for a real one in `make dev` and the tests.

It reaches the portal only over HTTP, by the provider's signed callback
(`POST /payment-provider/callbacks`, Standard Webhooks with the provider secret,
domain.signed_messages):

- `GET /checkout?payment_id=&amount_cents=&currency=&description=&return_url=` is the hosted
  page the portal sends the payer to: it shows the amount and the merchant reference and offers
  Pay, Fail and Cancel. Abandoning is closing the page: the payer never comes back;
- `POST /checkout` (the page's buttons) sends the outcome to the portal, then sends the browser
  back to `return_url` (which must be the portal's): the callback always arrives before the
  browser returns;
- `POST /payments/{payment_id}/callback` sends the last outcome of that payment again, with
  the same `webhook-id`, as a provider does that did not get its answer.

Run it:

    python -m hw.sim.payment_provider --listen 127.0.0.1:8400 --portal http://127.0.0.1:8000

with the secret in `AOS_PAYMENT_PROVIDER_SECRET` or `--secret-file` (the embedded mode's
`.data/payment-provider-secret`). It prints `payment provider ready http://HOST:PORT` once it
accepts requests.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from hw.sim.http_service import post_signed, run_service, secret_from, serve, service_arguments

log = logging.getLogger("hw.sim.payment_provider")
CALLBACK_PATH = "/payment-provider/callbacks"
OUTCOMES = {"pay": "paid", "fail": "failed", "cancel": "cancelled"}
MAX_FIELD = 500


@dataclass
class SentCallback:
    message_id: str
    body: bytes
    portal_status: int


class SimulatedPaymentProvider:
    """The provider's state: the last callback of each payment."""

    def __init__(self, portal_url: str, secret: str) -> None:
        self.portal_url = portal_url.rstrip("/")
        self.secret = secret
        self.sent: dict[str, SentCallback] = {}

    async def deliver(self, message_id: str, body: bytes) -> int:
        """POST one signed callback to the portal; its status."""
        async with httpx.AsyncClient(timeout=20) as client:
            answer = await post_signed(
                client, self.portal_url + CALLBACK_PATH, self.secret, message_id, body
            )
        if answer.status_code != 200:
            log.warning("the portal answered %s: %s", answer.status_code, answer.text)
        return answer.status_code

    async def settle(
        self, payment_id: str, outcome: str, amount_cents: int, currency: str
    ) -> SentCallback:
        body = json.dumps(
            {
                "payment_id": payment_id,
                "outcome": outcome,
                "amount_cents": amount_cents,
                "currency": currency,
                "provider_reference": f"sim-{uuid.uuid4().hex[:16]}",
            }
        ).encode()
        message_id = f"msg_{uuid.uuid4().hex}"
        sent = SentCallback(message_id, body, await self.deliver(message_id, body))
        self.sent[payment_id] = sent
        return sent

    async def repeat(self, payment_id: str) -> SentCallback | None:
        sent = self.sent.get(payment_id)
        if sent is None:
            return None
        sent.portal_status = await self.deliver(sent.message_id, sent.body)
        return sent


def _page(fields: dict[str, str]) -> str:
    cents = int(fields["amount_cents"])
    amount = f"{fields['currency']} {Decimal(cents) / 100:.2f}"
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
        for name, value in fields.items()
    )
    buttons = "".join(
        f'<button type="submit" name="action" value="{action}">{label}</button> '
        for action, label in (("pay", "Pay"), ("fail", "Fail"), ("cancel", "Cancel"))
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Simulated payment provider</title></head><body><main>"
        "<h1>Simulated payment provider</h1>"
        f'<p>Amount: <strong id="amount">{html.escape(amount)}</strong></p>'
        f'<p>Merchant reference: <strong id="reference">'
        f"{html.escape(fields['payment_id'])}</strong></p>"
        f"<p>{html.escape(fields['description'])}</p>"
        f'<form method="post" action="/checkout">{hidden}{buttons}</form>'
        "</main></body></html>"
    )


def create_provider_app(provider: SimulatedPaymentProvider) -> Starlette:
    fields = ("payment_id", "amount_cents", "currency", "description", "return_url")

    def checked(values: dict[str, str]) -> dict[str, str] | None:
        if any(len(values.get(name, "")) > MAX_FIELD for name in fields):
            return None
        if not values.get("amount_cents", "").isdigit() or not values.get("payment_id"):
            return None
        if not values.get("return_url", "").startswith(provider.portal_url + "/"):
            return None  # the payer goes back to the merchant only
        return {name: values.get(name, "") for name in fields}

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "payments": len(provider.sent)})

    async def checkout_page(request: Request) -> Response:
        values = checked(dict(request.query_params))
        if values is None:
            return HTMLResponse("<p>Not a payment this provider can take.</p>", status_code=400)
        return HTMLResponse(_page(values))

    async def checkout(request: Request) -> Response:
        form = await request.form()
        values = checked({name: str(form.get(name, "")) for name in fields})
        outcome = OUTCOMES.get(str(form.get("action", "")))
        if values is None or outcome is None:
            return HTMLResponse("<p>Not a payment this provider can take.</p>", status_code=400)
        await provider.settle(
            values["payment_id"], outcome, int(values["amount_cents"]), values["currency"]
        )
        return RedirectResponse(values["return_url"], status_code=303)

    async def repeat(request: Request) -> JSONResponse:
        sent = await provider.repeat(request.path_params["payment_id"])
        if sent is None:
            return JSONResponse({"detail": "no callback sent for this payment"}, status_code=404)
        return JSONResponse({"message_id": sent.message_id, "portal_status": sent.portal_status})

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/checkout", checkout_page, methods=["GET"]),
            Route("/checkout", checkout, methods=["POST"]),
            Route("/payments/{payment_id}/callback", repeat, methods=["POST"]),
        ]
    )


async def _serve(args: argparse.Namespace) -> None:
    secret = secret_from(args.secret_file, "AOS_PAYMENT_PROVIDER_SECRET")
    provider = SimulatedPaymentProvider(args.portal, secret)
    await serve(create_provider_app(provider), args.listen, "payment provider")


def main(argv: list[str] | None = None) -> int:
    parser = service_arguments(
        "hw.sim.payment_provider",
        __doc__.split("\n\n")[0],  # the first paragraph: argparse reflows it
        listen="127.0.0.1:8400",
        secret_help="the payment provider secret's file",
    )
    return run_service(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
