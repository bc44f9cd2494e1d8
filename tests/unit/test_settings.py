"""Production settings refuse the embedded defaults, except where a process does not use them;
the embedded mode generates its secrets once and keeps them for its owner's eyes only."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from security.kept_secrets import PAYLOAD_KEYS_FILE, SECRET_KEY_FILE, kept_secret
from security.report_keys import new_key_entry
from settings import Settings
from temporal_client import parse_payload_keys


def test_production_refuses_to_run_without_a_secret_of_its_own_and_on_sqlite() -> None:
    with pytest.raises(ValidationError, match="AOS_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="AOS_SECRET_KEY"):
        Settings(environment="production", secret_key="too short")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        Settings(environment="production", secret_key="x" * 32)
    with pytest.raises(ValidationError, match="AOS_REPORT_SIGNING_KEYS"):
        Settings(
            environment="production",
            secret_key="x" * 32,
            database_url="postgresql+psycopg://portal@db/aos",
        )
    with pytest.raises(ValidationError, match="report key 1"):
        Settings(
            environment="production",
            secret_key="x" * 32,
            database_url="postgresql+psycopg://portal@db/aos",
            report_signing_keys="k1@2026-01-01T00:00:00Z=not-a-key",
        )
    Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
        report_signing_keys=new_key_entry(),
    )


def test_a_station_on_its_own_machine_needs_neither_secret_nor_database() -> None:
    station = Settings(
        environment="production",
        portal_url="https://portal.example",
        station_token="a-station-token",
    )
    assert station.database_url.startswith("sqlite")  # never opened by a station worker


def test_the_gateway_speaks_tls_and_production_brings_its_own_certificate(tmp_path: Path) -> None:
    production = Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
        report_signing_keys=new_key_entry(),
    )
    with pytest.raises(ValueError, match="AOS_GATEWAY_CERTIFICATE_FILE"):
        production.gateway_server_files()
    given = production.model_copy(
        update={
            "gateway_certificate_file": tmp_path / "server.pem",
            "gateway_private_key_file": tmp_path / "server-key.pem",
        }
    )
    assert given.gateway_server_files() == (tmp_path / "server.pem", tmp_path / "server-key.pem")
    # The embedded mode makes a local CA; there is no plaintext gateway in either mode.
    assert Settings().gateway_server_files() is None


def test_only_the_web_uis_origin_may_call_the_codec_from_a_browser() -> None:
    embedded = Settings(temporal_ui_port=9233)
    assert embedded.temporal_ui_origins == {"http://127.0.0.1:9233", "http://localhost:9233"}
    production = Settings(
        environment="production",
        secret_key="x" * 32,
        database_url="postgresql+psycopg://portal@db/aos",
        report_signing_keys=new_key_entry(),
    )
    assert production.temporal_ui_origins == frozenset()  # no CORS until configured
    configured = production.model_copy(update={"temporal_ui_origin": "https://ui.example/"})
    assert configured.temporal_ui_origins == {"https://ui.example"}
    for not_an_origin in ("ui.example", "https://ui.example/codec", "https://ui.example?x=1"):
        with pytest.raises(ValidationError, match="temporal_ui_origin"):
            Settings(temporal_ui_origin=not_an_origin)


def test_make_dev_points_the_web_ui_at_the_codec_when_payloads_are_encrypted() -> None:
    from worker import temporal_dev_server_command

    plain = temporal_dev_server_command(Settings(api_port=8100))
    assert "--ui-codec-endpoint" not in plain
    keys = "k1=" + base64.b64encode(bytes(32)).decode()
    encrypted = temporal_dev_server_command(Settings(api_port=8100, payload_keys=keys))
    endpoint = encrypted[encrypted.index("--ui-codec-endpoint") + 1]
    assert endpoint == "http://127.0.0.1:8100/codec"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_embedded_mode_generates_its_secrets_at_the_first_start_owner_only(
    tmp_path: Path,
) -> None:
    assert Settings().secret_key is None  # no secret in the code, nor a default one

    first = Settings(data_dir=tmp_path / "data").with_portal_secrets(make_payload_keys=True)

    secret_file, keys_file = (
        tmp_path / "data" / SECRET_KEY_FILE,
        tmp_path / "data" / PAYLOAD_KEYS_FILE,
    )
    assert (_mode(secret_file), _mode(keys_file)) == (0o600, 0o600)
    assert first.secret_key == secret_file.read_text().strip()
    assert first.payload_keys == keys_file.read_text().strip()
    assert len(first.secret_key) >= 32
    keys, active = parse_payload_keys(first.payload_keys)  # the format AOS_PAYLOAD_KEYS takes
    assert list(keys) == [active] and len(keys[active]) == 32

    for make_payload_keys in (True, False):  # make dev again, or one of its parts
        again = Settings(data_dir=tmp_path / "data").with_portal_secrets(
            make_payload_keys=make_payload_keys
        )
        assert (again.secret_key, again.payload_keys) == (first.secret_key, first.payload_keys)
    elsewhere = Settings(data_dir=tmp_path / "other").with_portal_secrets(make_payload_keys=True)
    assert elsewhere.secret_key != first.secret_key
    assert elsewhere.payload_keys != first.payload_keys


def test_only_make_dev_generates_the_payload_key(tmp_path: Path) -> None:
    """A portal process started on its own where make dev never ran (a test's or a benchmark's
    data folder) encrypts nothing, as its clients do not."""
    alone = Settings(data_dir=tmp_path).with_portal_secrets()
    assert alone.payload_keys is None
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]


def test_configured_secrets_are_used_and_nothing_is_generated(tmp_path: Path) -> None:
    given = Settings(data_dir=tmp_path, secret_key="s" * 40, payload_keys="").with_portal_secrets()
    assert (given.secret_key, given.payload_keys) == ("s" * 40, "")  # empty: no encryption
    production = Settings(
        environment="production",
        data_dir=tmp_path,
        secret_key="p" * 40,
        database_url="postgresql+psycopg://portal@db/aos",
        report_signing_keys=new_key_entry(),
    ).with_portal_secrets()
    assert (production.secret_key, production.payload_keys) == ("p" * 40, None)
    assert list(tmp_path.iterdir()) == []


def test_a_secret_made_by_a_process_starting_at_the_same_moment_wins(tmp_path: Path) -> None:
    path = tmp_path / SECRET_KEY_FILE

    def make() -> str:
        path.write_text("theirs\n")  # another part of make dev got there first meanwhile
        return "mine"

    assert kept_secret(path, make) == "theirs"
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE]  # no candidate left over


def test_a_kept_secret_readable_by_others_is_made_owner_only_again(tmp_path: Path) -> None:
    path = tmp_path / SECRET_KEY_FILE
    path.write_text("kept\n")
    path.chmod(0o644)
    assert kept_secret(path, lambda: "new") == "kept"
    assert _mode(path) == 0o600


def test_a_station_on_its_own_machine_has_no_portal_secret_to_give() -> None:
    station = Settings(
        environment="production",
        portal_url="https://portal.example",
        station_token="a-station-token",
    )
    with pytest.raises(ValueError, match="AOS_SECRET_KEY"):
        station.secret()


def test_the_vin_search_value_is_keyed_by_the_secret() -> None:
    one = Settings(secret_key="a" * 40)
    other = Settings(secret_key="b" * 40)
    vin = "WBA8E5105FK731548"
    value = one.vin_search_value(vin)
    assert len(value) == 32 and int(value, 16) >= 0
    assert vin not in value and value != other.vin_search_value(vin)
    assert one.vin_search_value(f" {vin.lower()} ") == value  # as a person may type it
