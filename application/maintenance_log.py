"""The maintenance log (KaSIO "Onderhoudslogboek") of one service entry, as a PDF (reportlab).

Rendered in memory from the stored entry; the API hands it out only while the entry's print
window is open (domain.service_history.PRINT_RULE).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime

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


def render_maintenance_log(log: MaintenanceLog) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1)
    canvas.setTitle(f"Maintenance log {log.vin} {log.service_date.isoformat()}")
    canvas.setAuthor(log.workshop)
    width, height = A4
    y = height - 25 * mm

    def line(text: str, *, size: int = 10, bold: bool = False, gap: float = 6) -> None:
        nonlocal y
        canvas.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        canvas.drawString(20 * mm, y, text)
        y -= gap * mm

    line("Maintenance log", size=18, bold=True, gap=10)
    line(f"{log.vehicle}    VIN {log.vin}", size=12, bold=True, gap=8)
    line(f"Entry: {'maintenance' if log.kind == 'maintenance' else 'repair'}  ({log.entry_id})")
    line(f"Service date: {log.service_date.strftime('%d-%m-%Y')}")
    exchanged = "  (odometer exchanged)" if log.odometer_exchanged else ""
    line(f"Mileage: {log.mileage_km:,} km{exchanged}".replace(",", "."))
    line(f"Workshop: {log.workshop}")
    line("Work performed:", bold=True, gap=6)
    for item in log.cbs_items or ["(no service items)"]:
        line(f"  - {CBS_LABELS.get(item, item)}")
    if log.remark:
        line("Remark:", bold=True)
        line(f"  {log.remark[:100]}")
        if len(log.remark) > 100:
            line(f"  {log.remark[100:]}")
    transfer = (
        f"written into the vehicle on {log.written_to_vehicle_at:%d-%m-%Y %H:%M} UTC"
        if log.written_to_vehicle_at
        else "not written into the vehicle"
    )
    line(f"Vehicle transfer: {transfer}")
    line(
        f"Recorded {log.created_at:%d-%m-%Y %H:%M} UTC with the owner's consent "
        f"(consent text {log.consent_text_version}).",
        size=8,
    )
    canvas.line(20 * mm, 20 * mm, width - 20 * mm, 20 * mm)
    canvas.setFont("Helvetica", 7)
    canvas.drawString(20 * mm, 15 * mm, "Digital service booklet - printable only at creation.")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
