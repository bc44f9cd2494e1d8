"""Workshop registration: the application, its business states and its time limits (pure)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, EmailStr, Field, JsonValue, ValidationInfo, field_validator
from statemachine import State, StateMachine

from domain.errors import Conflict, DomainError
from domain.vat import EU_COUNTRIES, check_vat_format, normalise_vat_id

EMAIL_VERIFICATION_DEADLINE = timedelta(hours=24)
REVIEW_REMINDER_AFTER = timedelta(days=2)
REVIEW_DEADLINE = timedelta(days=14)
CODE_LIFETIME = timedelta(hours=1)
MAX_CODE_ATTEMPTS = 5
MAX_CODE_RESENDS = 5


class RegistrationMachine(StateMachine):
    """submitted → email_verified → under_review → approved | rejected; or abandoned."""

    submitted = State(initial=True)
    email_verified = State()
    under_review = State()
    approved = State(final=True)
    rejected = State(final=True)
    abandoned = State(final=True)

    verify_email = submitted.to(email_verified)
    start_review = email_verified.to(under_review)
    approve = under_review.to(approved)
    reject = under_review.to(rejected)
    abandon = submitted.to(abandoned) | under_review.to(abandoned)


RegistrationState = Literal[
    "submitted", "email_verified", "under_review", "approved", "rejected", "abandoned"
]
OPEN_STATES: frozenset[str] = frozenset({"submitted", "email_verified", "under_review"})


_COUNTRY_CODES: list[JsonValue] = [*sorted(EU_COUNTRIES)]  # the schema's enum of `country`


class Application(BaseModel):
    """What a workshop fills in to register."""

    company_name: str = Field(min_length=2, max_length=200)
    legal_form: str = Field(min_length=1, max_length=100, examples=["BV", "GmbH", "SARL"])
    address: str = Field(min_length=5, max_length=500, description="Street, postcode and city")
    country: str = Field(
        description="ISO 3166 alpha-2 code of an EU member state (either case)",
        json_schema_extra={"enum": _COUNTRY_CODES},
    )
    vat_id: str = Field(min_length=4, max_length=20, examples=["NL123456789B01"])
    legal_representative: str = Field(min_length=2, max_length=200)
    contact_email: EmailStr
    owner_name: str = Field(min_length=2, max_length=200)

    @field_validator("country")
    @classmethod
    def _eu_country(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in EU_COUNTRIES:
            raise ValueError(f"{value!r} is not the ISO 3166 code of an EU member state")
        return value

    @field_validator("vat_id")
    @classmethod
    def _vat_matches_country(cls, value: str, info: ValidationInfo) -> str:
        value = normalise_vat_id(value)
        country = info.data.get("country")
        if country is not None:  # an invalid country is reported on its own field
            check = check_vat_format(country, value)
            if not check.valid:
                raise ValueError(check.reason)
        return value

    @field_validator("contact_email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()

    def fingerprint(self) -> str:
        """Equal for an identical application re-sent, so the retry gets the same registration."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class CodeRejected(DomainError):
    code = "verification-code-wrong"
    title = "The verification code is wrong"


class CodeExpired(DomainError):
    code = "verification-code-expired"
    title = "The verification code has expired"
    kind = "conflict"


class CodeAttemptsExhausted(DomainError):
    code = "verification-code-attempts-exhausted"
    title = "Too many wrong codes"
    kind = "conflict"


class ResendLimitReached(DomainError):
    code = "verification-resend-limit"
    title = "No more codes can be sent"
    kind = "conflict"


class WrongRegistrationState(Conflict):
    code = "registration-wrong-state"
    title = "The registration is not in the state this step needs"


class RegistrationNotUnderReview(WrongRegistrationState):
    code = "registration-not-under-review"
    title = "The registration is not under review"


class ApplicationAlreadyOpen(Conflict):
    code = "registration-already-open"
    title = "An application with this VAT ID or email is already open"


def code_digest(registration_id: str, code: str) -> str:
    """The verification code is kept only as a digest salted with the registration id."""
    return hashlib.sha256(f"{registration_id}:{code}".encode()).hexdigest()
