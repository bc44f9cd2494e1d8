"""Signing in (password, then TOTP; the first time, TOTP enrolment with a QR code) and out.

Every step calls the same use case (`application.accounts`) as the JSON API's `/auth/*`
routes, so the throttle, the single use of each TOTP code and the IP binding are the API's own
rules. Between
the password and the code the server keeps a pending sign-in (`start_sign_in`); the browser
holds only its random token, never the password.
"""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from application import accounts as use_cases
from console.deps import CsrfChecked, SignedIn, Translate
from console.forms import FormErrors, domain_error_message
from console.i18n import N_
from console.paths import safe_next
from console.rendering import render
from console.security import (
    PENDING_SIGN_IN_COOKIE,
    PENDING_SIGN_IN_PATH,
    PENDING_SIGN_IN_SECONDS,
    clear_cookie,
    clear_session_cookies,
    set_cookie,
    set_session_cookies,
)
from db.accounts import IssuedSession, PendingSecondFactor, TotpEnrolment
from domain.accounts import TokenInvalid, TooManyAttempts, TotpCodeUsed
from domain.errors import DomainError
from settings import Settings
from web.auth import client_ip
from web.deps import AccountsDep, SettingsDep

router = APIRouter(prefix="/console", include_in_schema=False)

WRONG_CODE = N_("The code is wrong. Try the newest code from the app.")


def qr_code_svg(content: str) -> Markup:
    """`content` as an inline SVG QR code (made here: no outside service sees the secret).

    Without a fixed size (`omitsize`) the drawing has a `viewBox` only, so the stylesheet
    scales the whole code to its box; with segno's fixed width and height, a box smaller
    than the drawing cut off two of its finder patterns and nothing could scan it."""
    buffer = io.BytesIO()
    segno.make(content, error="m").save(
        buffer, kind="svg", xmldecl=False, svgns=True, scale=5, title="QR", omitsize=True
    )
    return Markup(buffer.getvalue().decode())


def _signed_in_response(settings: Settings, issued: IssuedSession, target: str) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    _set_session_cookie(response, settings, issued)
    return response


def _set_session_cookie(response: Response, settings: Settings, issued: IssuedSession) -> None:
    set_session_cookies(response, settings, issued.token)
    clear_cookie(response, settings, PENDING_SIGN_IN_COOKIE, path=PENDING_SIGN_IN_PATH)


def _enrolment_page(
    request: Request,
    enrolment: TotpEnrolment,
    email: str,
    next_page: str,
    errors: FormErrors | None = None,
) -> Response:
    return render(
        request,
        "sign_in/enrol.html",
        {
            "qr_svg": qr_code_svg(enrolment.provisioning_uri),
            "secret": enrolment.secret,
            "enrolment_token": enrolment.enrolment_token,
            "email": email,
            "next": next_page,
            "errors": errors or FormErrors(),
        },
        status_code=422 if errors else 200,
    )


@router.get("/sign-in")
async def sign_in_page(
    request: Request, reason: str | None = None, next: str | None = None
) -> Response:
    """Step 1: email and password."""
    return render(
        request,
        "sign_in/password.html",
        {"reason": reason, "next": safe_next(next), "email": "", "errors": FormErrors()},
    )


@router.post("/sign-in")
async def sign_in(
    request: Request,
    _: CsrfChecked,
    accounts: AccountsDep,
    settings: SettingsDep,
    translate: Translate,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """The password; then the TOTP code (step 2), or the first time, the TOTP enrolment."""
    next_page = safe_next(next)
    errors = FormErrors()
    if not email.strip():
        errors.add("email", translate._("Enter your email address."))
    if not password:
        errors.add("password", translate._("Enter your password."))
    if not errors:
        try:
            outcome = await use_cases.start_sign_in(
                accounts, email.strip(), password, client_ip(request)
            )
        except DomainError as error:
            errors.add_domain_error(translate, error, default_field="password")
        else:
            if isinstance(outcome, TotpEnrolment):
                return _enrolment_page(request, outcome, email.strip(), next_page)
            return _code_step_response(settings, outcome, next_page)
    return render(
        request,
        "sign_in/password.html",
        {
            "reason": None,
            "next": next_page,
            "email": email,
            "errors": errors,
            "here": "/console/sign-in",
        },
        status_code=422,
    )


def _code_step_response(
    settings: Settings, pending: PendingSecondFactor, next_page: str
) -> RedirectResponse:
    """The password was right: on to the code, with the pending sign-in's token (only)."""
    response = RedirectResponse(f"/console/sign-in/code?next={next_page}", status_code=303)
    set_cookie(
        response,
        settings,
        PENDING_SIGN_IN_COOKIE,
        pending.token,
        max_age=PENDING_SIGN_IN_SECONDS,
        path=PENDING_SIGN_IN_PATH,
    )
    return response


def _start_again(settings: Settings) -> RedirectResponse:
    """No live pending sign-in (none, expired, from another address or completed)."""
    response = RedirectResponse("/console/sign-in?reason=timed-out", status_code=303)
    clear_cookie(response, settings, PENDING_SIGN_IN_COOKIE, path=PENDING_SIGN_IN_PATH)
    return response


@router.get("/sign-in/code")
async def code_page(
    request: Request, accounts: AccountsDep, settings: SettingsDep, next: str | None = None
) -> Response:
    """Step 2: the code from the authenticator app (or a recovery code)."""
    pending = request.cookies.get(PENDING_SIGN_IN_COOKIE)
    if not pending or not await use_cases.pending_sign_in_live(
        accounts, pending, client_ip(request)
    ):
        return _start_again(settings)
    return render(
        request,
        "sign_in/code.html",
        {"next": safe_next(next), "use_recovery": False, "errors": FormErrors()},
    )


@router.post("/sign-in/code")
async def sign_in_with_code(
    request: Request,
    _: CsrfChecked,
    accounts: AccountsDep,
    settings: SettingsDep,
    translate: Translate,
    code: Annotated[str, Form()] = "",
    recovery_code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    next_page = safe_next(next)
    pending = request.cookies.get(PENDING_SIGN_IN_COOKIE)
    if not pending:
        return _start_again(settings)
    errors = FormErrors()
    field = "recovery_code" if recovery_code.strip() and not code.strip() else "code"
    if not code.strip() and not recovery_code.strip():
        errors.add("code", translate._("Enter the code from your authenticator app."))
    else:
        try:
            issued = await use_cases.finish_sign_in(
                accounts,
                pending,
                code.strip() or None,
                recovery_code.strip() or None,
                client_ip(request),
            )
        except TokenInvalid:
            return _start_again(settings)
        except (TooManyAttempts, TotpCodeUsed) as error:
            errors.add(field, domain_error_message(translate, error))
        except DomainError:  # wrong code or recovery code: counted by the throttle
            errors.add(field, translate._(WRONG_CODE))
        else:
            return _signed_in_response(settings, issued, next_page)
    return render(
        request,
        "sign_in/code.html",
        {
            "next": next_page,
            "use_recovery": field == "recovery_code",
            "code": code,
            "recovery_code": recovery_code,
            "errors": errors,
        },
        status_code=422,
    )


@router.post("/sign-in/enrol")
async def confirm_enrolment(
    request: Request,
    _: CsrfChecked,
    accounts: AccountsDep,
    settings: SettingsDep,
    translate: Translate,
    enrolment_token: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """The first code from the newly enrolled app: the session and the recovery codes."""
    next_page = safe_next(next)
    errors = FormErrors()
    if not code.strip():
        errors.add("code", translate._("Enter the code from your authenticator app."))
    else:
        try:
            issued = await use_cases.confirm_totp(
                accounts, enrolment_token, code.strip(), client_ip(request)
            )
        except DomainError as error:
            errors.add_domain_error(translate, error, default_field="code")
        else:
            response = render(
                request,
                "sign_in/recovery_codes.html",
                {"codes": issued.recovery_codes or [], "next": next_page},
            )
            _set_session_cookie(response, settings, issued)
            return response
    enrolment = use_cases.enrolment_shown_again(enrolment_token, secret, email)
    return _enrolment_page(request, enrolment, email, next_page, errors)


@router.post("/sign-out")
async def sign_out(
    _: CsrfChecked, person: SignedIn, accounts: AccountsDep, settings: SettingsDep
) -> Response:
    """End the session: its cookie stops working at once, here and anywhere it was copied."""
    await use_cases.sign_out(accounts, person.session.id)
    response = RedirectResponse("/console/sign-in?reason=signed-out", status_code=303)
    clear_session_cookies(response, settings)
    return response
