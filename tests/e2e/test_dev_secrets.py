"""`make dev` generates the portal's secrets at its first start and keeps them: the secret key
and a payload key in AOS_DATA_DIR, owner-only, held by the API, the portal worker and the
gateway and never by the station worker; payloads are encrypted in Temporal's history, and a
second start decodes what the first one stored."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from security.kept_secrets import PAYLOAD_KEYS_FILE, SECRET_KEY_FILE
from temporal_client import ENCRYPTED, EncryptionCodec, parse_payload_keys
from tests.accounts_helpers import APPLICATION
from tests.e2e.dev_stack import DevStack, dev_stack

pytestmark = pytest.mark.e2e

CHUNK = 16 * 1024 * 1024


def _holds(pid: int, needle: bytes) -> bool:
    """Whether the process's memory holds `needle` anywhere it wrote to at run time: its heap,
    stacks and anonymous mappings (not the code and files it mapped)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            name = fields[5] if len(fields) > 5 else ""
            if not fields[1].startswith("r") or name in ("[vvar]", "[vsyscall]", "[vdso]"):
                continue
            if name and not name.startswith("["):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            tail = b""
            for offset in range(start, end, CHUNK):
                try:
                    memory.seek(offset)
                    chunk = tail + memory.read(min(CHUNK, end - offset))
                except (OSError, OverflowError, ValueError):
                    break
                if needle in chunk:
                    return True
                tail = chunk[-len(needle) :]
    return False


async def _raw_input(temporal_port: int, workflow_id: str) -> Payload:
    """The workflow's input as Temporal stores it: a client without the codec."""
    client = await Client.connect(f"127.0.0.1:{temporal_port}")
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.input.payloads[0]


def _status(stack: DevStack, registration_id: str) -> httpx.Response:
    return httpx.get(f"{stack.api_url}/registrations/{registration_id}", timeout=30)


def test_dev_generates_its_secrets_once_and_only_the_portal_holds_them(tmp_path: Path) -> None:
    data = tmp_path / "data"
    secret_file, keys_file = data / SECRET_KEY_FILE, data / PAYLOAD_KEYS_FILE
    with dev_stack(data) as stack:
        stack.wait_ready(90)
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
        secret, keys = secret_file.read_text().strip(), keys_file.read_text().strip()
        kept = {
            path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (secret_file, keys_file)
        }

        # The same values in every portal process, read from the files; none in the station's.
        for words in (("portal_app:create_app",), ("portal",), ("gateway",)):
            pid = stack.part(*words)
            assert _holds(pid, secret.encode()) and _holds(pid, keys.encode()), words
        station = stack.part("station")
        assert not _holds(station, secret.encode()) and not _holds(station, keys.encode())

        # Payloads leave the API encrypted; the portal worker decodes them with the same key.
        applied = httpx.post(f"{stack.api_url}/registrations", json=APPLICATION, timeout=30)
        assert applied.status_code == 201, applied.text
        registration_id = applied.json()["registration_id"]
        before = _status(stack, registration_id)  # a query the portal worker answers
        assert before.status_code == 200, before.text
        stored = asyncio.run(_raw_input(stack.temporal_port, f"registration-{registration_id}"))
        assert stored.metadata["encoding"] == ENCRYPTED
        email = APPLICATION["contact_email"].encode()
        assert email not in stored.data
        codec = EncryptionCodec(*parse_payload_keys(keys))
        (clear,) = asyncio.run(codec.decode([stored]))
        assert email in clear.data
        assert stack.stop() == 0, stack.tail()

    # Temporal's own store on disk (the dev server's SQLite file) holds the flow, not the
    # applicant's data.
    store = b"".join(path.read_bytes() for path in data.glob("temporal.db*"))
    assert f"registration-{registration_id}".encode() in store
    for clear_text in (email, APPLICATION["vat_id"].encode(), APPLICATION["owner_name"].encode()):
        assert clear_text not in store

    with dev_stack(data) as stack:  # the second start
        stack.wait_ready(90)
        assert {
            path: (path.read_bytes(), path.stat().st_mtime_ns) for path in (secret_file, keys_file)
        } == kept
        # The restarted portal worker replays the first start's encrypted history to answer.
        after = _status(stack, registration_id)
        assert after.status_code == 200, after.text
        assert after.json() == before.json()
