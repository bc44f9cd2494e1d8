"""The "Technical information" application: search by words and by VIN with filters, a
document (its text, its wiring diagram zoomable and printable, its versions), the documents of
a vehicle (linked from the service booklet's vehicle page) and the workshop's reading history.

The same use cases as the JSON API (`application.technical_information`): searching is open to
every signed-in person, reading needs the workshop's ticket, a security-related document the
reader's own SERMI approval.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from application.technical_information import (
    document_versions,
    read_document,
    search_documents,
    workshop_reading_history,
)
from console.deps import SignedIn, Translate, WorkshopMember
from console.i18n import N_
from console.rendering import render
from domain.entitlement import AccessExpired, NoAccess
from domain.errors import DomainError
from domain.service_history import VehicleNotFound
from domain.technical_information import (
    DOCUMENT_ID_PATTERN,
    SEARCH_QUERY_MAX_LENGTH,
    DocumentNotFound,
    DocumentType,
    InvalidSearch,
    Language,
    SermiApprovalRequired,
    SystemGroup,
)
from domain.vin import InvalidVinGiven
from web.deps import ResourcesDep

router = APIRouter(prefix="/console", include_in_schema=False)

PAGE = "/technical-information"  # under the router's /console
PAGE_SIZE = 20
BUY_TIME = "/console/credit?service=technical_information#buy"

DOCUMENT_TYPE_NAMES: dict[str, str] = {
    DocumentType.REPAIR_INSTRUCTION: N_("Repair instruction"),
    DocumentType.WIRING_DIAGRAM: N_("Wiring diagram"),
    DocumentType.SERVICE_BULLETIN: N_("Service information bulletin"),
    DocumentType.INSPECTION_SHEET: N_("Inspection sheet"),
    DocumentType.FAULT_CODE: N_("Fault code description"),
    DocumentType.LABOUR_TIMES: N_("Labour times"),
    DocumentType.SPECIAL_TOOL: N_("Special tool"),
    DocumentType.TECHNICAL_CAMPAIGN: N_("Technical campaign"),
}
SYSTEM_GROUP_NAMES: dict[str, str] = {
    SystemGroup.ENGINE: N_("Engine"),
    SystemGroup.FUEL: N_("Fuel supply"),
    SystemGroup.EXHAUST: N_("Exhaust system"),
    SystemGroup.TRANSMISSION: N_("Transmission and drive shafts"),
    SystemGroup.SUSPENSION: N_("Axles and suspension"),
    SystemGroup.BRAKES: N_("Brakes"),
    SystemGroup.STEERING: N_("Steering"),
    SystemGroup.BODY: N_("Body and seats"),
    SystemGroup.ELECTRICAL: N_("General vehicle electrics"),
    SystemGroup.LIGHTING: N_("Lighting"),
    SystemGroup.CLIMATE: N_("Heating and air conditioning"),
    SystemGroup.SECURITY: N_("Locking, keys and anti-theft"),
}
VERSION_STATES: dict[str, str] = {
    "published": N_("Current"),
    "superseded": N_("Superseded"),
}


def _language(translate: Translate) -> Language:
    return Language.NL if translate.language == "nl" else Language.EN


def _names() -> dict[str, object]:
    return {"type_names": DOCUMENT_TYPE_NAMES, "group_names": SYSTEM_GROUP_NAMES}


@router.get(f"{PAGE}/")
async def search_page(
    request: Request,
    person: SignedIn,
    resources: ResourcesDep,
    translate: Translate,
    q: Annotated[str, Query(max_length=SEARCH_QUERY_MAX_LENGTH)] = "",
    vin: Annotated[str, Query(max_length=40)] = "",
    doc_type: Annotated[str, Query(max_length=40)] = "",
    system_group: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The search form and its results (titles for everyone, snippets with a ticket)."""
    chosen_type = doc_type if doc_type in DOCUMENT_TYPE_NAMES else ""
    chosen_group = system_group if system_group in SYSTEM_GROUP_NAMES else ""
    form = {"q": q, "vin": vin, "doc_type": chosen_type, "system_group": chosen_group}
    error: str | None = None
    result = None
    try:
        result = await search_documents(
            resources,
            person.user,
            query=q,
            vin=vin or None,
            doc_types=[DocumentType(chosen_type)] if chosen_type else [],
            system_groups=[SystemGroup(chosen_group)] if chosen_group else [],
            language=_language(translate),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    except InvalidVinGiven:
        error = translate._("This is not a valid VIN: 17 letters and digits, without I, O and Q.")
    except VehicleNotFound:
        error = translate._("No vehicle with this VIN is known to the portal.")
    except InvalidSearch:
        error = translate._("The search is too long.")
    pages = ((result.total - 1) // PAGE_SIZE + 1) if result and result.total else 0
    return render(
        request,
        "technical_information/search.html",
        {
            "form": form,
            "result": result,
            "error": error,
            "page": page,
            "pages": pages,
            "buy_time": BUY_TIME,
            "is_member": person.user.workshop_id is not None,
            **_names(),
        },
        status_code=422 if error else 200,
    )


@router.get(f"{PAGE}/documents/{{document_id}}")
async def document_page(
    request: Request,
    document_id: str,
    person: SignedIn,
    resources: ResourcesDep,
    translate: Translate,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """A document to read and print; its diagram zooms. Without the ticket or the SERMI
    approval the page says why and shows the title only."""
    if not re.fullmatch(DOCUMENT_ID_PATTERN, document_id):
        raise DocumentNotFound("no such document", field="document_id")
    try:
        reading = await read_document(
            resources, person.user, document_id, version=version, language=_language(translate)
        )
    except SermiApprovalRequired as refusal:
        return render(
            request,
            "technical_information/refused.html",
            {"title": refusal.context.get("document_title"), "sermi": True, "buy_time": None},
            status_code=403,
        )
    except (NoAccess, AccessExpired) as refusal:
        return _not_covered(request, refusal)
    versions = await document_versions(resources, person.user, document_id)
    return render(
        request,
        "technical_information/document.html",
        {"doc": reading, "versions": versions, "version_states": VERSION_STATES, **_names()},
    )


def _not_covered(request: Request, refusal: DomainError) -> Response:
    return render(
        request,
        "technical_information/refused.html",
        {"title": None, "sermi": False, "buy_time": BUY_TIME, "expired": refusal.code},
        status_code=403,
    )


@router.get(f"{PAGE}/history")
async def history_page(
    request: Request,
    person: WorkshopMember,
    resources: ResourcesDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """What the workshop's people read, newest first."""
    history = await workshop_reading_history(
        resources, person.user, person.workshop_id, limit=50, offset=(page - 1) * 50
    )
    return render(
        request,
        "technical_information/history.html",
        {"history": history, "page": page, "pages": (history.total - 1) // 50 + 1},
    )
