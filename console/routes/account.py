"""The signed-in person's account page: what the portal keeps of them, and the language their
mail is written in (`PATCH /me` in the JSON API)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from application import accounts as use_cases
from console.deps import CsrfChecked, SignedIn, Translate
from console.forms import FormErrors
from console.i18n import LANGUAGE_COOKIE, LANGUAGES
from console.rendering import render
from console.security import set_cookie
from domain.languages import Language
from web.deps import AccountsDep, SettingsDep

router = APIRouter(prefix="/console", include_in_schema=False)


async def _account_page(
    request: Request,
    person: SignedIn,
    accounts: AccountsDep,
    *,
    errors: FormErrors | None = None,
    saved: bool = False,
) -> Response:
    profile = await use_cases.profile(accounts, person.user)
    return render(
        request,
        "account/account.html",
        {
            "profile": profile,
            "language_options": list(LANGUAGES.items()),
            "errors": errors or FormErrors(),
            "saved": saved,
            "here": "/console/account",
        },
        status_code=422 if errors else 200,
    )


@router.get("/account")
async def account(
    request: Request, person: SignedIn, accounts: AccountsDep, saved: bool = False
) -> Response:
    """Who is signed in, and the language of their mail."""
    return await _account_page(request, person, accounts, saved=saved)


@router.post("/account/language")
async def change_language(
    request: Request,
    person: SignedIn,
    _: CsrfChecked,
    accounts: AccountsDep,
    settings: SettingsDep,
    translate: Translate,
) -> Response:
    """Keep the chosen language on the account (the mail's) and show the console in it."""
    language = str((await request.form()).get("language", ""))
    if language not in LANGUAGES:  # also what is longer than any language's code
        errors = FormErrors()
        errors.add("language", translate._("Choose one of the languages."))
        return await _account_page(request, person, accounts, errors=errors)
    await use_cases.change_language(accounts, person.user, Language(language))
    response = RedirectResponse("/console/account?saved=true", status_code=303)
    set_cookie(response, settings, LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600)
    return response
