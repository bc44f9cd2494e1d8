"""Registering a workshop in the browser: the application, the email code, where the
application stands, and setting the owner's password from the invitation.

Each step is the same use case as the JSON API's (`application.registration`,
`application.accounts.accept_invitation`); the pages add no rule.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from application.accounts import accept_invitation as accept_invitation_use_case
from application.registration import (
    registration_status,
    resend_registration_code,
    submit_application,
    verify_registration_email,
)
from console.deps import CsrfChecked, Translate
from console.forms import FormErrors
from console.i18n import Translator
from console.rendering import render
from contracts.registration import VerifyEmailInput
from domain.errors import DomainError
from domain.languages import Language
from domain.registration import Application
from domain.vat import EU_COUNTRIES
from web.deps import AccountsDep, ResourcesDep

router = APIRouter(prefix="/console", include_in_schema=False)

APPLICATION_FIELDS = [
    "company_name",
    "legal_form",
    "address",
    "country",
    "vat_id",
    "legal_representative",
    "contact_email",
    "owner_name",
]


def countries(translate: Translator) -> list[tuple[str, str]]:
    """The EU member states, named and sorted in the page's language."""
    names = translate.locale.territories
    return sorted(((code, names.get(code, code)) for code in EU_COUNTRIES), key=lambda c: c[1])


def _application_page(
    request: Request, translate: Translator, values: dict[str, str], errors: FormErrors
) -> Response:
    return render(
        request,
        "registration/apply.html",
        {
            "values": values,
            "errors": errors,
            "countries": countries(translate),
            "here": "/console/register",
        },
        status_code=422 if errors else 200,
    )


@router.get("/register")
async def application_form(request: Request, translate: Translate) -> Response:
    """Apply as an independent workshop."""
    return _application_page(
        request, translate, dict.fromkeys(APPLICATION_FIELDS, "") | {"country": "NL"}, FormErrors()
    )


@router.post("/register")
async def apply(
    request: Request,
    _: CsrfChecked,
    resources: ResourcesDep,
    translate: Translate,
) -> Response:
    form = await request.form()
    values = {name: str(form.get(name, "")) for name in APPLICATION_FIELDS}
    errors = FormErrors()
    try:
        application = Application.model_validate(values)
        registration, _created = await submit_application(
            resources,
            application,
            str(request.base_url).rstrip("/"),
            Language(translate.language),
        )
    except ValidationError as error:
        errors.add_validation_error(translate, error)
    except DomainError as error:
        errors.add_domain_error(translate, error, default_field="contact_email")
    else:
        return RedirectResponse(f"/console/registrations/{registration.id}/verify", status_code=303)
    return _application_page(request, translate, values, errors)


async def _verify_page(
    request: Request,
    registration_id: str,
    resources: ResourcesDep,
    *,
    code: str = "",
    errors: FormErrors | None = None,
    resent: bool = False,
) -> Response:
    status = await registration_status(resources, registration_id)
    if status.state != "submitted":  # verified already: show where it stands
        return RedirectResponse(f"/console/registrations/{registration_id}", status_code=303)
    return render(
        request,
        "registration/verify.html",
        {
            "registration_id": registration_id,
            "status": status,
            "code": code,
            "errors": errors or FormErrors(),
            "resent": resent,
        },
        status_code=422 if errors else 200,
    )


@router.get("/registrations/{registration_id}/verify")
async def verification_form(
    request: Request, registration_id: str, resources: ResourcesDep
) -> Response:
    """Step 2: the 6-digit code mailed to the contact email (the mail links here)."""
    return await _verify_page(request, registration_id, resources)


@router.post("/registrations/{registration_id}/verify")
async def verify(
    request: Request,
    registration_id: str,
    _: CsrfChecked,
    resources: ResourcesDep,
    translate: Translate,
    code: Annotated[str, Form()] = "",
) -> Response:
    errors = FormErrors()
    try:
        await verify_registration_email(
            resources, registration_id, VerifyEmailInput(code=code.strip())
        )
    except DomainError as error:
        errors.add_domain_error(translate, error, default_field="code")
    else:
        return RedirectResponse(f"/console/registrations/{registration_id}", status_code=303)
    return await _verify_page(request, registration_id, resources, code=code, errors=errors)


@router.post("/registrations/{registration_id}/resend")
async def resend(
    request: Request,
    registration_id: str,
    _: CsrfChecked,
    resources: ResourcesDep,
    translate: Translate,
) -> Response:
    errors = FormErrors()
    try:
        await resend_registration_code(resources, registration_id)
    except DomainError as error:
        errors.add_domain_error(translate, error, default_field="code")
    return await _verify_page(
        request, registration_id, resources, errors=errors or None, resent=not errors
    )


@router.get("/registrations/{registration_id}")
async def registration_page(
    request: Request, registration_id: str, resources: ResourcesDep
) -> Response:
    """Where the application stands; the id is the applicant's receipt, as in the API."""
    status = await registration_status(resources, registration_id)
    return render(request, "registration/status.html", {"status": status})


@router.get("/invitations/{token}")
async def invitation_form(request: Request, token: str) -> Response:
    """Set the password of an invited account (the link in the approval or invitation mail)."""
    return render(request, "registration/password.html", {"token": token, "errors": FormErrors()})


@router.post("/invitations/{token}")
async def accept_invitation(
    request: Request,
    token: str,
    _: CsrfChecked,
    accounts: AccountsDep,
    translate: Translate,
    password: Annotated[str, Form()] = "",
    password_again: Annotated[str, Form()] = "",
) -> Response:
    errors = FormErrors()
    if password != password_again:
        errors.add("password_again", translate._("The two passwords are not the same."))
    else:
        try:
            await accept_invitation_use_case(accounts, token, password)
        except DomainError as error:
            # A bad link is about the page, not the password typed: shown in the summary only.
            errors.add_domain_error(
                translate,
                error,
                default_field=None if error.code == "token-invalid" else "password",
            )
        else:
            return RedirectResponse("/console/sign-in?reason=password-set", status_code=303)
    return render(
        request,
        "registration/password.html",
        {"token": token, "errors": errors},
        status_code=422,
    )
