"""The digital service booklet end to end on the dev server, through the API only: key read on
the simulated KeyReader, consent, details, services, create, write into the simulated car and
read back, the maintenance log once, the histories; and refusals without a ticket."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from contracts.access import entitlement_workflow_id
from db.models import AuditEvent, ServiceEntry, Ticket, Vehicle
from domain.catalogue import Service
from domain.key_data import CBS_TYPES
from domain.service_history import CONSENT_TEXT_VERSION
from hw import protocol as P
from hw.sim import registry
from settings import Settings
from testkit.factories import grant_ticket
from tests.service_history.conftest import (
    DEMO_VIN,
    Garage,
    add_station,
    booklet_with_reader,
    garage,
    seed,
    station_worker,
)

pytestmark = [pytest.mark.usefixtures("portal_on_dev_server"), pytest.mark.database]


@pytest.fixture
async def entitlement_cleanup(
    dev_env: WorkflowEnvironment, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    yield
    async with session_factory() as session:
        workshops = set((await session.scalars(select(Ticket.workshop_id))).all())
    for workshop_id in workshops:
        with contextlib.suppress(Exception):
            handle = dev_env.client.get_workflow_handle(
                entitlement_workflow_id(workshop_id, Service.SERVICE_HISTORY)
            )
            await handle.terminate("test finished")


async def buy_service_history_day(api: httpx.AsyncClient, shop: Garage) -> None:
    topped = await api.post(
        f"/workshops/{shop.workshop_id}/account/top-ups",
        json={"amount_cents": 100_000},
        headers={**shop.owner.headers, "Idempotency-Key": f"top-{uuid.uuid4().hex}"},
    )
    assert topped.status_code == 201, topped.text
    bought = await api.post(
        f"/workshops/{shop.workshop_id}/tickets",
        json={"service": "service_history", "period": "day"},
        headers={**shop.owner.headers, "Idempotency-Key": f"buy-{uuid.uuid4().hex}"},
    )
    assert bought.status_code == 201, bought.text


async def test_a_technician_records_a_service_from_a_key_read_to_the_printed_log(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    entitlement_cleanup: None,
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory, "Garage Alkmaar")
    tech = shop.technician.headers
    await buy_service_history_day(api_client, shop)
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    registered = await api_client.post(
        f"/workshops/{shop.workshop_id}/stations",
        json={"station_id": station_id, "name": "Bay 1", "confirm_never_seen": True},
        headers=shop.owner.headers,
    )
    assert registered.status_code == 201, registered.text

    async with station_worker(dev_env.client, settings, station_id):
        # Identify the car by reading its key on the station's (simulated) KeyReader.
        read = await api_client.post(f"/stations/{station_id}/key-reads", headers=tech)
        assert read.status_code == 201, read.text
        key = read.json()
        assert (key["vin"], key["total_distance_km"], key["brand"]) == (DEMO_VIN, 194_826, "BMW")
        keys = (await api_client.get(f"/workshops/{shop.workshop_id}/keys", headers=tech)).json()
        assert [k["vin"] for k in keys] == [DEMO_VIN]
        assert keys[0]["reader"].startswith("KeyReader (simulated)")

        vehicle = (await api_client.get(f"/vehicles/{DEMO_VIN}", headers=tech)).json()
        assert vehicle["model"].startswith("320d")
        assert {n["cbs_id"] for n in vehicle["service_needs"]} == {"engine_oil", "brake_fluid"}
        assert any(a["status"] == "open" for a in vehicle["technical_actions"])
        by_short = await api_client.get(
            "/vehicles", params={"short_vin": "FK731548"[-7:]}, headers=tech
        )
        assert [v["vin"] for v in by_short.json()] == [DEMO_VIN]

        opened = await api_client.post(
            "/service-entries",
            json={
                "vin": DEMO_VIN,
                "kind": "maintenance",
                "station_id": station_id,
                "key_read_id": key["key_record_id"],
            },
            headers=tech,
        )
        assert opened.status_code == 201, opened.text
        entry = opened.json()
        entry_id = entry["entry_id"]
        assert (entry["state"], entry["next_steps"]) == ("opened", ["consent"])
        url = f"/service-entries/{entry_id}"

        early = await api_client.post(f"{url}/create", headers=tech)
        assert (early.status_code, early.json()["expected_step"]) == (409, "consent")

        consent = await api_client.post(
            f"{url}/consent",
            json={"confirmed": True, "consent_text_version": entry["consent_text_version"]},
            headers=tech,
        )
        assert consent.status_code == 200, consent.text
        assert consent.json()["consent"]["confirmed_by"] == shop.technician.user_id
        assert consent.json()["consent"]["consent_text_version"] == CONSENT_TEXT_VERSION

        today = datetime.now(UTC).date()
        too_long = await api_client.post(
            f"{url}/details",
            json={"mileage_km": 195_000, "service_date": today.isoformat(), "remark": "x" * 201},
            headers=tech,
        )
        assert (too_long.status_code, too_long.json()["field"]) == (422, "remark")
        details = await api_client.post(
            f"{url}/details",
            json={"mileage_km": 195_000, "service_date": today.isoformat(), "remark": "x" * 200},
            headers=tech,
        )
        assert details.json()["state"] == "details_entered", details.text
        services = await api_client.post(
            f"{url}/services", json={"cbs_items": ["engine_oil", "brake_fluid"]}, headers=tech
        )
        assert services.json()["state"] == "services_selected", services.text

        created = await api_client.post(f"{url}/create", headers=tech)
        assert created.status_code == 200, created.text
        assert created.json()["state"] == "created" and created.json()["printable"]
        again = await api_client.post(f"{url}/create", headers=tech)
        assert again.json()["created_at"] == created.json()["created_at"]

        written = await api_client.post(f"{url}/write-to-vehicle", headers=tech)
        assert written.status_code == 200, written.text
        status = written.json()
        assert (status["state"], status["vehicle_transfer"]) == ("written_to_vehicle", "written")
        oil = next(i for i in status["vehicle_items"] if i["code"] == 1)
        assert (oil["status"], oil["remaining_km"]) == ("ok", 30_000)
        assert oil["due_date"] == date(
            today.year + 2, today.month, min(today.day, 28)
        ).isoformat() or (oil["due_date"].startswith(str(today.year + 2)))
        # The car itself holds the reset items (read independently of the activity).
        car_items = P.decode_service_items(
            registry.get(station_id).ecu(P.INSTRUMENT_CLUSTER).service_items
        )
        by_code = {item.item_id: item for item in car_items}
        assert by_code[1].status == P.ServiceStatus.OK and by_code[4].status == P.ServiceStatus.OK
        assert by_code[2].remaining_km == 14_500  # front brakes were not touched
        assert CBS_TYPES[4][0] == "brake_fluid"

        pdf = await api_client.get(f"{url}/maintenance-log.pdf", headers=tech)
        assert pdf.status_code == 200, pdf.text
        assert pdf.content.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"

        closed = await api_client.post(f"{url}/close", headers=tech)
        assert closed.json()["state"] == "closed"
        late = await api_client.get(f"{url}/maintenance-log.pdf", headers=tech)
        assert (late.status_code, late.json()["type"]) == (
            409,
            "/problems/maintenance-log-not-printable",
        )
        assert "until its flow closes" in late.json()["detail"]

    histories = (await api_client.get(f"/vehicles/{DEMO_VIN}/histories", headers=tech)).json()
    assert [(h["entry_id"], h["type"], h["mileage_km"], h["source"]) for h in histories] == [
        (entry_id, "maintenance", 195_000, "key_read")
    ]
    assert histories[0]["workshop"] == "Garage Alkmaar"
    assert histories[0]["deletable"] and histories[0]["written_to_vehicle"]
    vehicle = (await api_client.get(f"/vehicles/{DEMO_VIN}", headers=tech)).json()
    assert vehicle["last_known_mileage_km"] == 195_000

    # Same day, same workshop: the entry can be deleted; an audit record remains.
    deleted = await api_client.delete(url, headers=tech)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["last_known_mileage_km"] == 194_826
    assert (await api_client.get(f"/vehicles/{DEMO_VIN}/histories", headers=tech)).json() == []
    async with session_factory() as session:
        audit = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.subject == f"service-entry:{entry_id}")
            )
        ).all()
    assert [a.action for a in audit] == ["service_entry.deleted"]


async def test_without_a_ticket_every_action_is_refused(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await seed(session_factory)
    never = await garage(session_factory, "No Ticket Garage")
    lapsed = await garage(session_factory, "Lapsed Garage")
    ended = datetime.now(UTC) - timedelta(minutes=1)
    await grant_ticket(session_factory, lapsed.workshop_id, ended - timedelta(hours=1), ended)
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    made = await api_client.post(
        f"/workshops/{never.workshop_id}/stations",
        json={"station_id": station_id, "name": "Bay", "confirm_never_seen": True},
        headers=never.owner.headers,
    )
    assert made.status_code == 201  # registering a station is not a service-history action
    calls = [
        ("GET", f"/vehicles/{DEMO_VIN}", None),
        ("GET", "/vehicles?short_vin=K731548", None),
        ("GET", f"/vehicles/{DEMO_VIN}/histories", None),
        ("POST", f"/stations/{station_id}/key-reads", None),
        ("POST", "/service-entries", {"vin": DEMO_VIN, "kind": "maintenance"}),
        ("GET", f"/service-entries/{uuid.uuid4()}", None),
        ("DELETE", f"/service-entries/{uuid.uuid4()}", None),
    ]
    for shop, problem in ((never, "no-access"), (lapsed, "access-expired")):
        for method, path, body in calls:
            response = await api_client.request(
                method, path, json=body, headers=shop.technician.headers
            )
            assert (response.status_code, response.json()["type"]) == (
                403,
                f"/problems/{problem}",
            ), (
                method,
                path,
                response.text,
            )
        keys = await api_client.get(
            f"/workshops/{shop.workshop_id}/keys", headers=shop.technician.headers
        )
        assert keys.status_code == 403
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(ServiceEntry)) == 0


async def test_bad_input_is_refused_with_what_is_wrong(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    tech = shop.technician.headers
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )

    short = await api_client.get("/vehicles/WBA8E5105FK73154", headers=tech)
    assert (short.status_code, short.json()["field"], short.json()["reason"]) == (
        422,
        "vin",
        "length",
    )
    letter = await api_client.get("/vehicles/WBA8E5105FK73I548", headers=tech)
    assert (letter.json()["reason"], letter.json()["position"]) == ("forbidden_letter", 14)
    # A North-American VIN must carry its check digit.
    wrong_check = await api_client.post(
        "/service-entries", json={"vin": "1M8GDM9AXKP042788".replace("X", "3")}, headers=tech
    )
    assert (wrong_check.status_code, wrong_check.json()["reason"]) == (422, "check_digit")
    assert "position 9" in wrong_check.json()["detail"]
    unknown = await api_client.get("/vehicles/WBA00000000000000", headers=tech)
    assert (unknown.status_code, unknown.json()["type"]) == (404, "/problems/vehicle-not-found")
    bad_short = await api_client.get("/vehicles", params={"short_vin": "OO1"}, headers=tech)
    assert (bad_short.status_code, bad_short.json()["field"]) == (422, "short_vin")

    # Another workshop's station is absent.
    other = await garage(session_factory, "Other")
    theirs = f"st-{uuid.uuid4().hex[:10]}"
    await api_client.post(
        f"/workshops/{other.workshop_id}/stations",
        json={"station_id": theirs, "name": "Theirs", "confirm_never_seen": True},
        headers=other.owner.headers,
    )
    for method, path, body in (
        ("POST", f"/stations/{theirs}/key-reads", None),
        ("POST", "/service-entries", {"vin": DEMO_VIN, "station_id": theirs}),
    ):
        response = await api_client.request(method, path, json=body, headers=tech)
        assert (response.status_code, response.json()["type"]) == (
            404,
            "/problems/station-not-found",
        )
    taken = await api_client.post(
        f"/workshops/{shop.workshop_id}/stations",
        json={"station_id": theirs, "name": "Mine?"},
        headers=shop.owner.headers,
    )
    assert (taken.status_code, taken.json()["type"]) == (409, "/problems/station-id-taken")

    opened = (
        await api_client.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech)
    ).json()
    url = f"/service-entries/{opened['entry_id']}"
    # Another workshop cannot see or steer the entry.
    await grant_ticket(
        session_factory, other.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    unknown_url = f"/service-entries/{uuid.uuid4()}"
    for method, suffix in (("GET", ""), ("POST", "/consent"), ("DELETE", "")):
        answers = []
        for path in (url + suffix, unknown_url + suffix):
            response = await api_client.request(
                method,
                path,
                json={"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}
                if method == "POST"
                else None,
                headers=other.technician.headers,
            )
            assert response.status_code == 404, (method, path, response.text)
            answers.append({k: response.json().get(k) for k in ("type", "detail", "field")})
        # the entry of another workshop looks exactly like one that does not exist
        assert answers[0] == answers[1], (method, answers)

    no_consent = await api_client.post(
        f"{url}/consent",
        json={"confirmed": False, "consent_text_version": CONSENT_TEXT_VERSION},
        headers=tech,
    )
    assert (no_consent.status_code, no_consent.json()["type"]) == (
        422,
        "/problems/consent-required",
    )
    out_of_order = await api_client.post(
        f"{url}/services", json={"cbs_items": ["engine_oil"]}, headers=tech
    )
    assert (out_of_order.status_code, out_of_order.json()["expected_step"]) == (409, "consent")
    await api_client.post(
        f"{url}/consent",
        json={"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION},
        headers=tech,
    )
    today = now.date()
    details_cases: list[tuple[dict[str, object], str, str]] = [
        (
            {"mileage_km": 194_000, "service_date": today.isoformat()},
            "mileage_km",
            "mileage-below-last-known",
        ),
        (
            {"mileage_km": 2_000_001, "service_date": today.isoformat()},
            "mileage_km",
            "mileage-implausible",
        ),
        (
            {"mileage_km": 195_000, "service_date": (today + timedelta(days=1)).isoformat()},
            "service_date",
            "service-date-invalid",
        ),
        (
            {"mileage_km": 195_000, "service_date": "2014-01-01"},
            "service_date",
            "service-date-invalid",
        ),
    ]
    for body_, field, code in details_cases:
        refused = await api_client.post(f"{url}/details", json=body_, headers=tech)
        assert (refused.status_code, refused.json()["field"], refused.json()["type"]) == (
            422,
            field,
            f"/problems/{code}",
        ), refused.text
    exchanged = await api_client.post(
        f"{url}/details",
        json={"mileage_km": 12, "service_date": today.isoformat(), "odometer_exchanged": True},
        headers=tech,
    )
    assert exchanged.json()["state"] == "details_entered", exchanged.text
    unsupported = await api_client.post(
        f"{url}/services", json={"cbs_items": ["coolant"]}, headers=tech
    )
    assert (unsupported.status_code, unsupported.json()["field"]) == (422, "cbs_items")
    none = await api_client.post(f"{url}/services", json={"cbs_items": []}, headers=tech)
    assert none.status_code == 422

    # Without a station the entry cannot be written into the car.
    await api_client.post(f"{url}/services", json={"cbs_items": ["microfilter"]}, headers=tech)
    await api_client.post(f"{url}/create", headers=tech)
    no_station = await api_client.post(f"{url}/write-to-vehicle", headers=tech)
    assert (no_station.status_code, no_station.json()["type"]) == (
        409,
        "/problems/service-entry-without-station",
    )
    assert (await api_client.get("/service-entries/not-a-uuid", headers=tech)).status_code == 404


async def test_fifty_concurrent_creates_store_one_entry(
    api_client: httpx.AsyncClient, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    tech = shop.technician.headers
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    entry = (await api_client.post("/service-entries", json={"vin": DEMO_VIN}, headers=tech)).json()
    url = f"/service-entries/{entry['entry_id']}"
    await api_client.post(
        f"{url}/consent",
        json={"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION},
        headers=tech,
    )
    await api_client.post(
        f"{url}/details",
        json={"mileage_km": 200_000, "service_date": now.date().isoformat()},
        headers=tech,
    )
    await api_client.post(f"{url}/services", json={"cbs_items": ["engine_oil"]}, headers=tech)

    responses = await asyncio.gather(
        *(api_client.post(f"{url}/create", headers=tech) for _ in range(50))
    )
    assert {r.status_code for r in responses} == {200}, [
        r.text for r in responses if r.status_code != 200
    ][:2]
    assert len({r.json()["created_at"] for r in responses}) == 1
    async with session_factory() as session:
        stored = (await session.scalars(select(ServiceEntry))).all()
        vehicle = await session.get(Vehicle, DEMO_VIN)
    assert [e.id for e in stored] == [entry["entry_id"]]
    assert vehicle is not None and vehicle.last_known_mileage_km == 200_000


async def test_a_failed_transfer_keeps_the_entry_and_says_how_to_transfer_later(
    api_client: httpx.AsyncClient,
    dev_env: WorkflowEnvironment,
    settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    await seed(session_factory)
    shop = await garage(session_factory)
    tech = shop.technician.headers
    now = datetime.now(UTC)
    await grant_ticket(
        session_factory, shop.workshop_id, now - timedelta(hours=1), now + timedelta(days=1)
    )
    station_id = f"st-{uuid.uuid4().hex[:10]}"
    await add_station(session_factory, shop.workshop_id, station_id)
    # The station's car is another vehicle (the simulator's default VIN), not the entry's.
    booklet = booklet_with_reader(station_id, None)
    async with station_worker(dev_env.client, settings, station_id, booklet):
        opened = await api_client.post(
            "/service-entries", json={"vin": DEMO_VIN, "station_id": station_id}, headers=tech
        )
        url = f"/service-entries/{opened.json()['entry_id']}"
        for step, body in (
            ("consent", {"confirmed": True, "consent_text_version": CONSENT_TEXT_VERSION}),
            ("details", {"mileage_km": 195_500, "service_date": now.date().isoformat()}),
            ("services", {"cbs_items": ["engine_oil"]}),
            ("create", None),
        ):
            assert (
                await api_client.post(f"{url}/{step}", json=body, headers=tech)
            ).status_code == 200
        failed = await api_client.post(f"{url}/write-to-vehicle", headers=tech)
    status = failed.json()
    assert (status["state"], status["vehicle_transfer"]) == ("created", "failed"), failed.text
    assert "is stored" in status["vehicle_transfer_detail"]
    assert "write-to-vehicle again" in status["vehicle_transfer_detail"]
    histories = (await api_client.get(f"/vehicles/{DEMO_VIN}/histories", headers=tech)).json()
    assert [(h["mileage_km"], h["written_to_vehicle"]) for h in histories] == [(195_500, False)]
