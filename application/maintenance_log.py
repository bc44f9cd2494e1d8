"""The maintenance log (KaSIO "Onderhoudslogboek") of one service entry, as a PDF (reportlab).

Rendered in memory from the stored entry; the API hands it out only while the entry's print
window is open (domain.service_history.PRINT_RULE). The customer takes this paper home, so it
is written in the words and formats it is given (`LogWording`): the console passes its page's
translator (the workshop session's language, times in `AOS_CONSOLE_TIMEZONE`); the JSON API,
which has no language, gets English with times in UTC, said so. Its texts are msgids of the
console's catalogues (`console.catalogue` reads this module too).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol

from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_decimal
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from domain.service_history import CBS_LABELS


@dataclass(frozen=True)
class MaintenanceLog:
    entry_id: str
    kind: str
    vin: str
    vehicle: str
    workshop: str
    service_date: date
    mileage_km: int
    odometer_exchanged: bool
    cbs_items: list[str]
    remark: str
    created_at: datetime
    consent_text_version: str
    written_to_vehicle_at: datetime | None


class LogWording(Protocol):
    """A language's words and formats (`console.i18n.Translator` is one)."""

    def _(self, message: str, **values: object) -> str: ...

    def date(self, moment: date | datetime | None) -> str: ...

    def datetime(self, moment: datetime | None) -> str: ...

    def number(self, value: float | Decimal, decimals: int | None = None) -> str: ...


class EnglishInUtc:
    """English words, British formats (`5 Mar 2026`, `196,326`), times in UTC marked as such:
    for a caller without a language or a time zone of its own."""

    _LOCALE = "en_GB"

    def _(self, message: str, **values: object) -> str:
        return message % values if values else message

    def date(self, moment: date | datetime | None) -> str:
        if moment is None:
            return ""
        if isinstance(moment, datetime):
            moment = moment.astimezone(UTC).date()
        return format_date(moment, "medium", locale=self._LOCALE)

    def datetime(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        at = moment.astimezone(UTC)
        shown = str(get_datetime_format("medium", locale=self._LOCALE)).format(
            format_time(at, "short", locale=self._LOCALE),
            format_date(at, "medium", locale=self._LOCALE),
        )
        return f"{shown} UTC"

    def number(self, value: float | Decimal, decimals: int | None = None) -> str:
        pattern = None if decimals is None else "#,##0." + "0" * decimals if decimals else "#,##0"
        return format_decimal(value, format=pattern, locale=self._LOCALE)


def render_maintenance_log(log: MaintenanceLog, wording: LogWording | None = None) -> bytes:
    """The log as a one-page A4 PDF in `wording`'s language and formats (default:
    `EnglishInUtc`)."""
    say = wording if wording is not None else EnglishInUtc()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(
        say._("Maintenance log %(vin)s %(day)s", vin=log.vin, day=say.date(log.service_date))
    )
    canvas.setAuthor(log.workshop)
    width, height = A4
    y = height - 25 * mm

    def line(text: str, *, size: int = 10, bold: bool = False, gap: float = 6) -> None:
        nonlocal y
        canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        canvas.drawString(20 * mm, y, text)
        y -= gap * mm

    line(say._("Maintenance log"), size=18, bold=True, gap=10)
    vin_label = say._("VIN")
    line(f"{log.vehicle}    {vin_label} {log.vin}", size=12, bold=True, gap=8)
    kind = say._("Maintenance") if log.kind == "maintenance" else say._("Repair")
    line(say._("Entry: %(kind)s (%(entry)s)", kind=kind, entry=log.entry_id))
    line(say._("Service date: %(day)s", day=say.date(log.service_date)))
    km = say.number(log.mileage_km)
    if log.odometer_exchanged:
        line(say._("Mileage: %(km)s km (odometer exchanged)", km=km))
    else:
        line(say._("Mileage: %(km)s km", km=km))
    line(say._("Workshop: %(name)s", name=log.workshop))
    line(say._("Work performed:"), bold=True, gap=6)
    for item in log.cbs_items:
        line(f"  - {say._(CBS_LABELS.get(item, item))}")
    if not log.cbs_items:
        line("  " + say._("(no service items)"))
    if log.remark:
        line(say._("Remark:"), bold=True)
        line(f"  {log.remark[:100]}")
        if len(log.remark) > 100:
            line(f"  {log.remark[100:]}")
    if log.written_to_vehicle_at:
        line(
            say._(
                "Vehicle transfer: written into the vehicle on %(moment)s",
                moment=say.datetime(log.written_to_vehicle_at),
            )
        )
    else:
        line(say._("Vehicle transfer: not written into the vehicle"))
    line(
        say._(
            "Recorded %(moment)s with the owner's consent (consent text %(version)s).",
            moment=say.datetime(log.created_at),
            version=log.consent_text_version,
        ),
        size=8,
    )
    canvas.line(20 * mm, 20 * mm, width - 20 * mm, 20 * mm)
    canvas.setFont("Helvetica", 7)
    canvas.drawString(
        20 * mm, 15 * mm, say._("Digital service booklet - printable only at creation.")
    )
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
