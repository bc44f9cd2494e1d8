"""`make dev`'s administrator: its password and TOTP secret are kept for its owner only, and the
start-up banner tells the truth about its enrolment."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pyotp
import pytest

from application.administrator import embedded_administrator, ensure_administrator
from db.accounts import AccountRepository
from db.engine import create_engine, create_session_factory
from settings import Settings

pytestmark = pytest.mark.database

EMAIL = "admin@aos-portal.example"


def _settings(database_url: str, tmp_path: Path) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return Settings(database_url=database_url, data_dir=data_dir, admin_email=EMAIL)


def _enrol(settings: Settings) -> str | None:
    async def enrol() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            repository = AccountRepository(create_session_factory(engine))
            return await repository.enrol_totp_unconfirmed(EMAIL)
        finally:
            await engine.dispose()

    return asyncio.run(enrol())


def test_a_new_administrator_gets_its_totp_secret_in_an_owner_only_file(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    banner = embedded_administrator(settings)
    credentials = settings.data_dir / "admin-credentials.txt"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    email, password, secret, uri = credentials.read_text().splitlines()
    assert email == EMAIL and password in banner
    assert pyotp.parse_uri(uri).secret == secret
    assert str(credentials) in banner and "enrol" not in banner.lower()
    assert _enrol(settings) is None  # enrolled: a second enrolment changes nothing
    assert embedded_administrator(settings) == banner  # the next start says the same


def test_a_credentials_file_without_the_secret_gets_it_unless_already_enrolled(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    asyncio.run(ensure_administrator(settings, EMAIL, "a long enough password 1"))
    credentials = settings.data_dir / "admin-credentials.txt"
    credentials.write_text(f"{EMAIL}\na long enough password 1\n")
    credentials.chmod(0o644)

    banner = embedded_administrator(settings)
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    lines = credentials.read_text().splitlines()
    assert lines[:2] == [EMAIL, "a long enough password 1"] and len(lines) == 4
    assert "otpauth:// link in" in banner


def test_an_administrator_enrolled_at_its_first_sign_in_is_not_asked_to_enrol_again(
    database_url: str, tmp_path: Path
) -> None:
    settings = _settings(database_url, tmp_path)
    asyncio.run(ensure_administrator(settings, EMAIL, "a long enough password 1"))
    assert _enrol(settings)  # as POST /auth/totp/confirm would have
    credentials = settings.data_dir / "admin-credentials.txt"
    credentials.write_text(f"{EMAIL}\na long enough password 1\n")

    banner = embedded_administrator(settings)
    assert "TOTP enrolled at an earlier first sign-in" in banner
    assert len(credentials.read_text().splitlines()) == 2  # its secret is not ours to know
