"""The digital service booklet: vehicles, their campaigns and CBS items, workshop stations,
the key table, and service entries.

Vehicles and their service entries are shared by every workshop with a service-history ticket
(the booklet belongs to the car); key reads and stations belong to one workshop.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base


class Vehicle(Base):
    __tablename__ = "vehicles"

    vin: Mapped[str] = mapped_column(String(17), primary_key=True)
    short_vin: Mapped[str] = mapped_column(String(7), index=True)
    brand: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(100))
    series: Mapped[str] = mapped_column(String(20))
    type_code: Mapped[str] = mapped_column(String(20))
    colour_code: Mapped[str] = mapped_column(String(10))
    colour: Mapped[str] = mapped_column(String(100))
    upholstery_code: Mapped[str | None] = mapped_column(String(10))
    upholstery: Mapped[str] = mapped_column(String(100))
    production_date: Mapped[date] = mapped_column(Date)
    last_known_mileage_km: Mapped[int] = mapped_column(Integer)
    teleservice_eligible: Mapped[bool]
    connected_drive_contract: Mapped[bool]
    own_dealer: Mapped[bool]
    service_history_via_teleservices: Mapped[bool]
    remote_key_read_eligible: Mapped[bool]
    # The workshop the owner chose as the car's service partner ("own dealer"): it receives
    # the car's teleservice tickets. None: no partner known.
    service_partner_id: Mapped[str | None] = mapped_column(ForeignKey("workshops.id"))
    updated_at: Mapped[datetime]


class VehicleTechnicalAction(Base):
    """A campaign or recall for one vehicle (KaSIO "technische actie"), open or done."""

    __tablename__ = "vehicle_technical_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    vin: Mapped[str] = mapped_column(ForeignKey("vehicles.vin"), index=True)
    action_id: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8))
    completed_on: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (UniqueConstraint("vin", "action_id"),)


class VehicleCbsItem(Base):
    """A condition-based-service item the vehicle supports, with its last known state."""

    __tablename__ = "vehicle_cbs_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    vin: Mapped[str] = mapped_column(ForeignKey("vehicles.vin"), index=True)
    cbs_id: Mapped[str] = mapped_column(String(40))
    code: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    due_date: Mapped[date | None] = mapped_column(Date)
    remaining_km: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (UniqueConstraint("vin", "cbs_id"),)


class Station(Base):
    """A workshop PC wired to cars; its worker serves the task queue `station-<id>`."""

    __tablename__ = "stations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # None: provisioned (its worker may already poll through the gateway), not yet claimed.
    workshop_id: Mapped[str | None] = mapped_column(ForeignKey("workshops.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # SHA-256 of the station's own credential (POST .../stations/{id}/token), with which its
    # worker fetches packages from the portal and hands in frame logs; None: never issued.
    token_digest: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    # When the station gateway last took a poll of this station's worker (at most every
    # `gateway.polls.POLL_NOTE_INTERVAL`); None: never. The gateway sees the worker even while
    # Temporal, just restarted, does not list it among the queue's pollers yet.
    last_polled_at: Mapped[datetime | None]


class KeyRecord(Base):
    """One row of a workshop's key table: the latest read of one key of one vehicle."""

    __tablename__ = "key_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    vin: Mapped[str] = mapped_column(String(17))
    key_number: Mapped[int] = mapped_column(Integer)
    brand: Mapped[str | None] = mapped_column(String(40))
    colour_code: Mapped[str] = mapped_column(String(10))
    total_distance_km: Mapped[int] = mapped_column(Integer)
    production_date: Mapped[date] = mapped_column(Date)
    last_written_on: Mapped[date] = mapped_column(Date)
    last_read_at: Mapped[datetime]
    reader: Mapped[str] = mapped_column(String(200))
    station_id: Mapped[str | None] = mapped_column(String(64))
    # Read from the car over the connected-car backend (a remote key read), not at a station.
    remote: Mapped[bool] = mapped_column(default=False, server_default=false())
    cbs: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    __table_args__ = (UniqueConstraint("workshop_id", "vin", "key_number"),)


class ServiceEntry(Base):
    """A maintenance or repair entry of a vehicle's service history, stored once at creation."""

    __tablename__ = "service_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    vin: Mapped[str] = mapped_column(ForeignKey("vehicles.vin"))
    workshop_id: Mapped[str] = mapped_column(ForeignKey("workshops.id"), index=True)
    station_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    service_date: Mapped[date] = mapped_column(Date)
    mileage_km: Mapped[int] = mapped_column(Integer)
    # The vehicle's last known mileage before this entry (restored when it is deleted).
    previous_mileage_km: Mapped[int] = mapped_column(Integer)
    odometer_exchanged: Mapped[bool]
    remark: Mapped[str] = mapped_column(String(200))
    cbs_items: Mapped[list[str]] = mapped_column(JSON, default=list)
    consent_confirmed_by: Mapped[str] = mapped_column(String(64))
    consent_confirmed_at: Mapped[datetime]
    consent_text_version: Mapped[str] = mapped_column(String(40))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    written_to_vehicle_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_service_entries_vin_service_date", "vin", "service_date"),)
