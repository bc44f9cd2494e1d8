"""The signed-message endpoints (the connected-car backend's messages, the payment provider's
callbacks) count what one address sends before reading any of it: past the limit an address
gets 429 `too-many-messages` with `Retry-After`, whatever it sends, and other addresses are
not held."""

from __future__ import annotations

import httpx
from temporalio.testing import WorkflowEnvironment

from portal_app import create_app
from settings import Settings
from testkit.connected_car import INBOUND_PATH
from testkit.serving import running_api

CALLBACK_PATH = "/payment-provider/callbacks"
LIMIT = 3


async def test_an_address_over_its_message_rate_is_refused_before_its_message_is_read(
    settings: Settings, dev_env: WorkflowEnvironment
) -> None:
    limited = settings.model_copy(update={"signed_messages_per_minute": LIMIT})
    app = create_app(limited, temporal=dev_env.client)
    unsigned = {"Content-Type": "application/json"}
    async with running_api(app, client_ip="198.51.100.7") as flooding:
        # Unsigned messages are refused, but each one counts: both endpoints share the count.
        for path in (INBOUND_PATH, CALLBACK_PATH, INBOUND_PATH):
            answer = await flooding.post(path, content=b"{}", headers=unsigned)
            assert answer.status_code == 401, answer.text

        # Past the limit even a body far over the size bound is not read: 429, not 413.
        oversized = b"x" * (limited.teleservice_message_max_bytes * 4)
        answer = await flooding.post(INBOUND_PATH, content=oversized, headers=unsigned)
        assert answer.status_code == 429, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.json()["type"] == "/problems/too-many-messages"
        assert 1 <= int(answer.headers["Retry-After"]) <= 60
        answer = await flooding.post(CALLBACK_PATH, content=b"{}", headers=unsigned)
        assert answer.status_code == 429

        neighbour = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("198.51.100.8", 50000)),
            base_url="http://testserver",
        )
        async with neighbour:
            answer = await neighbour.post(INBOUND_PATH, content=b"{}", headers=unsigned)
        assert answer.status_code == 401, answer.text


async def test_the_openapi_documents_the_message_rate(api_client: httpx.AsyncClient) -> None:
    operations = (await api_client.get("/openapi.json")).json()["paths"]
    for path in (INBOUND_PATH, CALLBACK_PATH):
        refused = operations[path]["post"]["responses"]["429"]
        assert "Retry-After" in refused["headers"]
        examples = refused["content"]["application/problem+json"]["examples"]
        assert any(
            example["value"]["type"] == "/problems/too-many-messages"
            for example in examples.values()
        )
