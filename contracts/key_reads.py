"""Key reads: the KeyReadWorkflow, the station's KeyReader activity and the key table."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from temporalio import activity

from domain.key_data import KeyData

KEY_READ_WORKFLOW = "KeyReadWorkflow"


def key_read_workflow_id(read_id: str) -> str:
    return f"key-read-{read_id}"


class KeyReadInput(BaseModel):
    workshop_id: str
    station_id: str
    station_task_queue: str
    requested_by: str


class ReadKeyInput(BaseModel):
    """Empty for now: the station reads whatever key lies in its reader."""

    reader_serial: str | None = None


class StationKeyRead(BaseModel):
    station_id: str
    key: KeyData
    reader: str
    read_at: datetime


class RecordKeyReadInput(BaseModel):
    workshop_id: str
    read: StationKeyRead


class KeyRecordView(BaseModel):
    """One row of the key table (KaSIO "Sleuteltabel"), read from the stored record."""

    model_config = ConfigDict(from_attributes=True)

    key_record_id: int = Field(validation_alias=AliasChoices("key_record_id", "id"))
    vin: str
    key_number: int
    brand: str | None
    colour_code: str
    total_distance_km: int
    production_date: date
    last_read_at: datetime
    last_written_on: date
    reader: str
    station_id: str | None
    workshop_id: str
    remote: bool = False  # read over the connected-car backend, not at a station


class RecordedKeyRead(KeyRecordView):
    """What `record_key_read` answers: the stored row, and the `Vin` search attribute's value
    for its VIN (contracts.search_attributes), which the portal activity computes because the
    workflow holds no key. Reads recorded before it existed replay without it."""

    vin_search: str | None = None

    def view(self) -> KeyRecordView:
        """The row alone, as the workflow answers it."""
        return KeyRecordView.model_validate(self.model_dump(exclude={"vin_search"}))


@activity.defn(name="read_key_at_station")
async def read_key_at_station(request: ReadKeyInput) -> StationKeyRead:
    """Read the key lying in the station's KeyReader; a corrupt block is refused."""
    raise NotImplementedError("runs on the station worker: station.key_reader")


@activity.defn(name="record_key_read")
async def record_key_read(request: RecordKeyReadInput) -> RecordedKeyRead:
    """Store the read in the workshop's key table (a retry updates the row); the VIN's
    search value with it."""
    raise NotImplementedError("runs on the portal worker: activities.key_reads")
