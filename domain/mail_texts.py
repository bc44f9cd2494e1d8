"""Every mail's text, in each language the portal speaks: one subject and one body per kind
of mail and language, with `{fact}` placeholders.

Pure and deterministic, so a workflow composes its mail with it as an activity does: the
recipient's language travels in the flow's or the activity's input (`Language`), or is the
recipient's account's (`users.language`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.languages import Language


class MailKind(StrEnum):
    REGISTRATION_CODE = "registration-code"
    REGISTRATION_APPROVED = "registration-approved"
    REGISTRATION_REJECTED = "registration-rejected"
    REVIEW_REMINDER = "review-reminder"
    ACCESS_EXPIRY = "access-expiry"
    SERMI_EXPIRY_NOTICE = "sermi-expiry-notice"
    SERMI_EXPIRED = "sermi-expired"
    TELESERVICE_ACKNOWLEDGE_REMINDER = "teleservice-acknowledge-reminder"
    TELESERVICE_ESCALATION = "teleservice-escalation"
    TELESERVICE_APPOINTMENT_MISSED = "teleservice-appointment-missed"
    REMOTE_KEY_READ_RECEIVED = "remote-key-read-received"
    DOCUMENT_PUBLISHED = "document-published"
    PASSWORD_RESET = "password-reset"
    INVITATION = "invitation"


@dataclass(frozen=True)
class MailText:
    subject: str
    body: str


_TEXTS: Mapping[MailKind, Mapping[Language, tuple[str, str]]] = {
    MailKind.REGISTRATION_CODE: {
        Language.EN: (
            "Your verification code",
            "Your code is {code}. It is valid for one hour.\nEnter it at {verify_url}\n",
        ),
        Language.NL: (
            "Uw verificatiecode",
            "Uw code is {code}. Deze is een uur geldig.\nVoer hem in op {verify_url}\n",
        ),
    },
    MailKind.REGISTRATION_APPROVED: {
        Language.EN: (
            "{name} is registered: set your password",
            "Your workshop {name} was approved.\n"
            "Set your password within 7 days at\n"
            "{portal_url}/console/invitations/{token}\n"
            "or with this token (POST {portal_url}/invitations/<token>/accept):\n"
            "{token}\n",
        ),
        Language.NL: (
            "{name} is geregistreerd: kies uw wachtwoord",
            "Uw werkplaats {name} is goedgekeurd.\n"
            "Kies binnen 7 dagen uw wachtwoord op\n"
            "{portal_url}/console/invitations/{token}\n"
            "of met deze token (POST {portal_url}/invitations/<token>/accept):\n"
            "{token}\n",
        ),
    },
    MailKind.REGISTRATION_REJECTED: {
        Language.EN: (
            "Registration of {company_name} was not approved",
            "Reason: {reason}",
        ),
        Language.NL: (
            "Registratie van {company_name} is niet goedgekeurd",
            "Reden: {reason}",
        ),
    },
    MailKind.REVIEW_REMINDER: {
        Language.EN: (
            "Registration of {company_name} waits for review",
            "The registration {registration_id} has waited {waiting_days} days for a "
            "decision. It is abandoned after 14.",
        ),
        Language.NL: (
            "Registratie van {company_name} wacht op beoordeling",
            "De registratie {registration_id} wacht al {waiting_days} dagen op een besluit. "
            "Na 14 dagen vervalt ze.",
        ),
    },
    MailKind.ACCESS_EXPIRY: {
        Language.EN: (
            "Your access to {service} ends soon",
            "Access of workshop {workshop_id} to {service} ends at {ends_at} (in about "
            "{minutes} minutes). Buy a ticket at /workshops/{workshop_id}/tickets to continue "
            "without interruption.",
        ),
        Language.NL: (
            "Uw toegang tot {service} loopt binnenkort af",
            "De toegang van werkplaats {workshop_id} tot {service} eindigt op {ends_at} (over "
            "ongeveer {minutes} minuten). Koop een ticket via /workshops/{workshop_id}/tickets "
            "om zonder onderbreking door te werken.",
        ),
    },
    MailKind.SERMI_EXPIRY_NOTICE: {
        Language.EN: (
            "Your SERMI approval expires soon",
            "Your SERMI approval (certificate {certificate_reference}) expires at "
            "{expires_at}. Renew the certificate and send it to the portal's administrators "
            "in time to keep reading security-related technical information.",
        ),
        Language.NL: (
            "Uw SERMI-goedkeuring verloopt binnenkort",
            "Uw SERMI-goedkeuring (certificaat {certificate_reference}) verloopt op "
            "{expires_at}. Vernieuw het certificaat en stuur het tijdig naar de beheerders "
            "van het portaal om beveiligingsgerelateerde technische informatie te blijven "
            "lezen.",
        ),
    },
    MailKind.SERMI_EXPIRED: {
        Language.EN: (
            "Your SERMI approval has expired",
            "Your SERMI approval (certificate {certificate_reference}) expired at "
            "{expires_at}. Security-related technical information is closed to you until an "
            "administrator records a new approval.",
        ),
        Language.NL: (
            "Uw SERMI-goedkeuring is verlopen",
            "Uw SERMI-goedkeuring (certificaat {certificate_reference}) is verlopen op "
            "{expires_at}. Beveiligingsgerelateerde technische informatie is voor u gesloten "
            "tot een beheerder een nieuwe goedkeuring vastlegt.",
        ),
    },
    MailKind.TELESERVICE_ACKNOWLEDGE_REMINDER: {
        Language.EN: (
            "Teleservice ticket {ticket} waits for acknowledgement",
            "A car of which you are the service partner reported '{item}'. The ticket "
            "{ticket} has not been acknowledged for 2 working days; acknowledge it in the "
            "console (Teleservice Tickets).",
        ),
        Language.NL: (
            "Teleservice-ticket {ticket} wacht op bevestiging",
            "Een auto waarvan u de servicepartner bent, meldde '{item}'. Het ticket {ticket} "
            "is al 2 werkdagen niet bevestigd; bevestig het in de console "
            "(Teleservice-tickets).",
        ),
    },
    MailKind.TELESERVICE_ESCALATION: {
        Language.EN: (
            "Escalated: teleservice ticket {ticket} not acknowledged",
            "The teleservice ticket {ticket} ('{item}') of workshop {workshop} has not been "
            "acknowledged for 4 working days.",
        ),
        Language.NL: (
            "Geëscaleerd: teleservice-ticket {ticket} niet bevestigd",
            "Het teleservice-ticket {ticket} ('{item}') van werkplaats {workshop} is al 4 "
            "werkdagen niet bevestigd.",
        ),
    },
    MailKind.TELESERVICE_APPOINTMENT_MISSED: {
        Language.EN: (
            "Teleservice ticket {ticket}: the appointment passed",
            "The appointment planned for ticket {ticket} ('{item}') has passed and no service "
            "entry covers it yet. Record the entry, or plan a new appointment.",
        ),
        Language.NL: (
            "Teleservice-ticket {ticket}: de afspraak is verstreken",
            "De geplande afspraak voor ticket {ticket} ('{item}') is verstreken en er is nog "
            "geen onderhoudsregel voor. Leg de regel vast of plan een nieuwe afspraak.",
        ),
    },
    MailKind.REMOTE_KEY_READ_RECEIVED: {
        Language.EN: (
            "Remote key read received: {vin}",
            "The car {vin} woke up and sent its key data for your remote key-read request "
            "{request_id}. It is in your key table.",
        ),
        Language.NL: (
            "Sleutelgegevens op afstand ontvangen: {vin}",
            "De auto {vin} werd wakker en stuurde zijn sleutelgegevens voor uw verzoek "
            "{request_id}. Ze staan in uw sleuteltabel.",
        ),
    },
    MailKind.DOCUMENT_PUBLISHED: {
        Language.EN: (
            "New technical information: {title}",
            "Dear {name},\n\n"
            "Your workshop serviced a vehicle in the last {days} days that {document_id} "
            "(version {version}) applies to:\n{title}\n\n"
            "Read it under Technical information in the console, or at "
            "/technical-information/documents/{document_id}.",
        ),
        Language.NL: (
            "Nieuwe technische informatie: {title}",
            "Beste {name},\n\n"
            "Uw werkplaats onderhield in de afgelopen {days} dagen een voertuig waarop "
            "{document_id} (versie {version}) van toepassing is:\n{title}\n\n"
            "Lees het onder Technische informatie in de console, of op "
            "/technical-information/documents/{document_id}.",
        ),
    },
    MailKind.PASSWORD_RESET: {
        Language.EN: (
            "Reset your password",
            "Your reset token, valid for one hour:\n{token}\n",
        ),
        Language.NL: (
            "Stel uw wachtwoord opnieuw in",
            "Uw hersteltoken, een uur geldig:\n{token}\n",
        ),
    },
    MailKind.INVITATION: {
        Language.EN: (
            "You are invited to the AOS portal",
            "Accept within 7 days with this token:\n{token}\n",
        ),
        Language.NL: (
            "U bent uitgenodigd voor het AOS-portaal",
            "Accepteer binnen 7 dagen met deze token:\n{token}\n",
        ),
    },
}


# A fact left empty reads as this (the reason of a rejection given without one).
_NOT_GIVEN: Mapping[Language, str] = {Language.EN: "not given", Language.NL: "niet opgegeven"}


def mail_text(kind: MailKind, language: Language, **facts: object) -> MailText:
    """The subject and body of a `kind` mail in `language`, with `facts` filled in (an empty
    one as "not given" in that language)."""
    subject, body = _TEXTS[kind][language]
    facts = {name: _NOT_GIVEN[language] if value == "" else value for name, value in facts.items()}
    return MailText(subject=subject.format(**facts), body=body.format(**facts))
