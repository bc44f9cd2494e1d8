"""Settings for every process of the product, read from `AOS_*` environment variables and `.env`.

The defaults are the embedded mode (`make dev`): SQLite and the Temporal dev server under `.data/`.
No secret has a default in the code: the embedded mode generates its secret key and payload key
at its first start and keeps them in AOS_DATA_DIR, readable by their owner only; production must
set its own secret key and is refused without one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, PrivateAttr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.programming import HardwareRetry
from contracts.search_attributes import vin_search_value
from domain.invoices import Party
from domain.signed_messages import new_secret as _new_webhook_secret
from domain.signed_messages import secret_key as _webhook_secret_key
from security.kept_secrets import (
    PAYLOAD_KEYS_FILE,
    PAYMENT_PROVIDER_SECRET_FILE,
    REPORT_SIGNING_KEYS_FILE,
    SECRET_KEY_FILE,
    TELESERVICE_WEBHOOK_SECRET_FILE,
    kept_secret,
    new_payload_keys,
    new_secret_key,
    read_kept_secret,
)
from security.report_keys import SigningKey, new_key_entry, parse_key_ring

MiB = 1024 * 1024
SECRET_KEY_MIN_LENGTH = 32
# The embedded mode's generated secrets, under AOS_DATA_DIR (owner-only, like the


class Settings(BaseSettings):
    """Every knob of the product. Each field is read from `AOS_<FIELD NAME>`."""

    model_config = SettingsConfigDict(env_prefix="AOS_", env_file=".env", extra="ignore")
    # The embedded secret as read from its file (`secret`), with the file it came from.
    # The embedded mode's kept secrets as read, by file: each is written once and never changes,
    # so it is read once, not on every request that signs or checks with it.
    _kept_secrets: dict[Path, str] = PrivateAttr(default_factory=dict)

    environment: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path(".data")

    database_url: str = Field(
        default="sqlite:///.data/aos.db",
        description="SQLAlchemy URL; sqlite:///file or postgresql+psycopg://user@host/db",
    )

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    portal_task_queue: str = "portal"
    station_task_queue_prefix: str = "station-"

    secret_key: str | None = Field(
        default=None,
        description="The portal's key: console cookies and CSRF tokens, the gateway's task-token "
        "seal, the Vin search attribute's keyed values; 32+ random characters. Production must "
        "set it; the embedded mode generates one at its first start (AOS_DATA_DIR/secret-key).",
    )

    report_signing_keys: str | None = Field(
        default=None,
        description="The Ed25519 keys programming reports are signed with, newest first, "
        "comma-separated: '<key id>@<valid from, ISO 8601>=<base64 of the 32-byte private key>'. "
        "The first signs; the others stay published so that older reports still verify (key "
        "rotation). Production must set it; the embedded mode generates one at its first start "
        "(AOS_DATA_DIR/report-signing-keys, one key per line).",
    )

    smtp_host: str | None = Field(default=None, description="Without it, mail goes to the outbox.")
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_sender: str = "AOS portal <noreply@aos.invalid>"

    admin_email: str = "admin@aos-portal.example"
    admin_password: str | None = Field(
        default=None, description="For create-admin; the embedded mode generates one."
    )

    payload_keys: str | None = Field(
        default=None,
        description="Encrypt workflow payloads: 'id=base64(32 bytes),...'; the first is used "
        "for new payloads, the others still decode (key rotation). Unset: in the embedded mode "
        "the one `make dev` generates at its first start (AOS_DATA_DIR/payload-keys); "
        "production encrypts nothing. Empty: no encryption.",
    )

    teleservice_webhook_secret: str | None = Field(
        default=None,
        description="The Standard Webhooks secret (`whsec_` and base64 of 24 to 64 bytes) the "
        "connected-car backend signs its messages to the portal with, and the portal its "
        "requests to the backend. Unset: the embedded mode generates one at its first start "
        "(AOS_DATA_DIR/teleservice-webhook-secret); production refuses inbound messages.",
    )
    teleservice_message_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        le=16 * MiB,
        description="Bytes of one signed message from the connected-car backend (413 "
        "`message-too-large` beyond)",
    )
    signed_messages_per_minute: int = Field(
        default=6000,
        ge=1,
        le=1_000_000,
        description="Signed messages (teleservice messages, payment callbacks) one address may "
        "send a minute (429 `too-many-messages` beyond, counted before the body is read)",
    )
    teleservice_timestamp_tolerance_seconds: int = Field(
        default=300,
        ge=1,
        le=3600,
        description="How far a signed message's webhook-timestamp may be from the portal's "
        "clock (401 `message-stale` beyond)",
    )

    connected_car_backend_url: str = Field(
        default="http://127.0.0.1:8300",
        pattern=r"^https?://[^\s]+$",
        description="The connected-car backend's base URL, to which the portal sends remote "
        "key-read requests (signed with AOS_TELESERVICE_WEBHOOK_SECRET); the embedded mode's "
        "default is the simulated backend of `make dev`",
    )
    remote_key_read_deadline_seconds: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        le=90 * 24 * 3600,
        description="How long a remote key-read request waits for the car before it expires",
    )

    payment_provider_url: str = Field(
        default="http://127.0.0.1:8400",
        pattern=r"^https?://[^\s]+$",
        description="The payment provider's hosted pages (default: the simulated one of make dev)",
    )
    payment_provider_secret: str | None = Field(
        default=None,
        description="The Standard Webhooks secret of the payment provider's callbacks; unset: "
        "the embedded mode's AOS_DATA_DIR/payment-provider-secret, production takes none",
    )
    payment_abandon_after_seconds: int = Field(
        default=1800, ge=1, le=86400, description="A payment not completed by then is abandoned"
    )
    payment_callback_max_bytes: int = Field(
        default=4096, ge=512, le=MiB, description="Bytes of one payment callback (413 beyond)"
    )
    seller_name: str = "AOS Portal B.V."
    seller_address: str = "Stationsplein 1, 3511 ED Utrecht, Nederland"
    seller_country: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    seller_vat_id: str = "NL859876543B01"

    log_level: str = "info"
    worker_metrics_address: str | None = Field(
        default=None, description="host:port where a worker serves Prometheus metrics"
    )
    portal_url: str | None = Field(
        default=None,
        description="Station workers on another machine than the portal: the portal API's base "
        "URL, from which packages are fetched and to which frame logs are handed in. Without "
        "it, the station shares AOS_DATA_DIR with the portal.",
    )
    station_token: str | None = Field(
        default=None,
        description="The station's own token (POST /workshops/{id}/stations/{id}/token); "
        "needed with AOS_PORTAL_URL.",
    )

    gateway_listen: str = Field(
        default="127.0.0.1:7243",
        description="host:port where the station gateway listens (TLS) for station workers",
    )
    gateway_address: str = Field(
        default="127.0.0.1:7243",
        description="Station workers: host:port of the station gateway, their only Temporal "
        "endpoint",
    )
    gateway_certificate_file: Path | None = Field(
        default=None,
        description="The gateway's TLS certificate (PEM); without it and its key the embedded "
        "mode makes a local CA and a certificate under AOS_DATA_DIR/gateway",
    )
    gateway_private_key_file: Path | None = None
    gateway_ca_file: Path | None = Field(
        default=None,
        description="Station workers: the CA (PEM) the gateway's certificate is checked against; "
        "default AOS_DATA_DIR/gateway/ca.pem",
    )
    gateway_server_name: str | None = Field(
        default=None, description="Station workers: the name in the gateway's certificate"
    )

    # What a station or an administrator may upload; the API refuses beyond (413 or 409, each
    # with its problem type) and declares the values in its OpenAPI.
    trace_max_files_per_session: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Frame log files a station may hand in for one programming session "
        "(one per link the session opened; a resume opens another)",
    )
    trace_max_session_bytes: int = Field(
        default=1024 * MiB,
        ge=1,
        description="Bytes all frame log files of one programming session may hold together",
    )
    package_max_upload_bytes: int = Field(
        default=256 * MiB,
        ge=1,
        description="Bytes of a flash package upload (the gzipped tar) as it is sent",
    )
    package_max_unpacked_bytes: int = Field(
        default=256 * MiB,
        ge=1,
        description="Bytes a flash package's files may hold once unpacked; verifying reads "
        "them all into memory (four 16 MiB images and room to spare)",
    )
    package_max_files: int = Field(
        default=256,
        ge=2,
        le=100_000,
        description="Entries (files and folders) a flash package archive may hold",
    )

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = Field(
        default_factory=list,
        description="The API: addresses or networks (comma-separated, e.g. "
        "`10.0.0.5,172.18.0.0/16`) of the reverse proxies in front of it. Their "
        "`X-Forwarded-For` and `X-Forwarded-Proto` give the client's address and scheme; from "
        "any other peer these headers are ignored and the peer's own address is the client's. "
        "Empty: no proxy is trusted.",
    )
    temporal_ui_port: int = 8233
    temporal_ui_origin: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#\s]+/?$",
        description="The Temporal Web UI's origin (scheme://host[:port]), the only web page "
        "allowed to call the payload codec (/codec/*) from a browser, with the console's "
        "session cookie (CORS). Unset: in the embedded mode the dev server's UI "
        "(http://127.0.0.1:<AOS_TEMPORAL_UI_PORT> and http://localhost:<port>), in "
        "production none.",
    )

    # A programming session retries a transient vehicle fault (a pulled cable, a busy ECU)
    # after this long, doubling up to the maximum, before it asks the technician.
    hardware_retry_initial_seconds: float = Field(default=1.0, gt=0)
    hardware_retry_maximum_seconds: float = Field(default=10.0, gt=0)

    # `make dev`'s supervisor (supervisor.py): how it brings crashed and frozen parts back.
    supervisor_restart_delay_seconds: float = Field(
        default=1.0,
        gt=0,
        description="make dev: delay before restarting a part after a crash; "
        "it doubles with each crash in a row",
    )
    supervisor_max_restart_delay_seconds: float = Field(
        default=60.0, gt=0, description="make dev: the longest delay between restarts"
    )
    supervisor_health_interval_seconds: float = Field(
        default=5.0,
        gt=0,
        description="make dev: seconds between health checks of Temporal, the API and the gateway",
    )
    supervisor_health_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="make dev: failed health checks in a row after "
        "which a part counts as frozen and is killed and restarted",
    )

    console_secure_cookies: bool | None = Field(
        default=None,
        description="The console's cookies carry `Secure` (sent over HTTPS only); default: on "
        "in production, off in the embedded mode served on http://127.0.0.1",
    )
    console_timezone: str = Field(
        default="Europe/Amsterdam", description="The time zone the console shows times in"
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        # An environment variable is one string; a host address is a network of one.
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        # A station worker on its own machine (AOS_PORTAL_URL) signs nothing and opens no
        # database: it reaches the portal with its station token only.
        if self.environment == "production" and not self.portal_url:
            if not self.secret_key or len(self.secret_key) < SECRET_KEY_MIN_LENGTH:
                raise ValueError(
                    "AOS_SECRET_KEY must be set to 32+ random characters in production (a station "
                    "worker on its own machine sets AOS_PORTAL_URL and AOS_STATION_TOKEN instead)"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("AOS_DATABASE_URL must point to PostgreSQL in production")
            if not self.report_signing_keys:
                raise ValueError(
                    "AOS_REPORT_SIGNING_KEYS must be set in production: the Ed25519 key(s) "
                    "programming reports are signed with"
                )
        return self

    @field_validator("report_signing_keys")
    @classmethod
    def _report_keys_format(cls, value: str | None) -> str | None:
        if value:
            parse_key_ring(value)  # refused at start, not at the first report
        return value

    def report_key_ring(self) -> list[SigningKey]:
        """The report-signing keys, newest (the one that signs) first: AOS_REPORT_SIGNING_KEYS;
        without it (the embedded mode) the ring kept in AOS_DATA_DIR/report-signing-keys, made
        with one key at the first start. Rotating there: put a new line first (keys
        `security.report_keys.rotated`)."""
        if self.report_signing_keys:
            return parse_key_ring(self.report_signing_keys)
        if self.environment == "production":
            raise ValueError("AOS_REPORT_SIGNING_KEYS is not set")
        return parse_key_ring(kept_secret(self.report_keys_file, new_key_entry))

    @property
    def report_keys_file(self) -> Path:
        return self.data_dir / REPORT_SIGNING_KEYS_FILE

    def secret(self) -> str:
        """AOS_SECRET_KEY; without it (the embedded mode) the key generated at the first start
        and kept in AOS_DATA_DIR/secret-key. Only the portal's processes ask: a station worker
        holds no portal secret."""
        return self._configured_or_kept(
            self.secret_key, "AOS_SECRET_KEY", SECRET_KEY_FILE, new_secret_key
        )

    def _configured_or_kept(
        self, configured: str | None, variable: str, file: str, make: Callable[[], str]
    ) -> str:
        """A secret as configured; without it (the embedded mode) the one kept in
        AOS_DATA_DIR/`file`, made by `make` at the first start. Production has no kept
        secrets: unset there, `variable` is named in the error."""
        if configured:
            return configured
        if self.environment == "production":
            raise ValueError(f"{variable} is not set")
        path = self.data_dir / file
        if path not in self._kept_secrets:
            self._kept_secrets[path] = kept_secret(path, make)
        return self._kept_secrets[path]

    def with_portal_secrets(self, *, make_payload_keys: bool = False) -> Settings:
        """These settings as a portal process (API, portal worker, gateway, `worker.py dev`)
        runs with them: the secret key and the payload keys as configured, or in the embedded
        mode the ones kept in AOS_DATA_DIR, so that every process of `make dev` and every later
        start use the same ones.

        The secret key is generated by whichever process needs it first. The payload key only by
        `worker.py dev` (`make_payload_keys`), at its first start: a portal process started on
        its own in a data folder `make dev` never ran in (a test's, a benchmark's) stays without
        encryption, as its clients are.
        """
        update: dict[str, str] = {"secret_key": self.secret()}
        keys = self.data_dir / PAYLOAD_KEYS_FILE
        if self.payload_keys is None and self.environment == "embedded":
            if make_payload_keys:
                update["payload_keys"] = kept_secret(keys, new_payload_keys)
            elif keys.exists():
                update["payload_keys"] = read_kept_secret(keys)
        # The teleservice secret is generated by `worker.py dev` or the first inbound message
        # (`teleservice_secret`); a process started later reads it from there.
        webhook_secret = self.data_dir / TELESERVICE_WEBHOOK_SECRET_FILE
        generated = self.teleservice_webhook_secret is None and self.environment == "embedded"
        if generated and webhook_secret.exists():
            update["teleservice_webhook_secret"] = read_kept_secret(webhook_secret)
        return self.model_copy(update=update)

    def teleservice_secret(self) -> str:
        """AOS_TELESERVICE_WEBHOOK_SECRET; without it (the embedded mode) the one generated at
        the first start and kept in AOS_DATA_DIR/teleservice-webhook-secret, which the
        simulated connected-car backend of `make dev` reads too."""
        return self._configured_or_kept(
            self.teleservice_webhook_secret,
            "AOS_TELESERVICE_WEBHOOK_SECRET",
            TELESERVICE_WEBHOOK_SECRET_FILE,
            _new_webhook_secret,
        )

    def payment_secret(self) -> str:
        """The payment provider's callback secret (generated like the teleservice secret)."""
        return self._configured_or_kept(
            self.payment_provider_secret,
            "AOS_PAYMENT_PROVIDER_SECRET",
            PAYMENT_PROVIDER_SECRET_FILE,
            _new_webhook_secret,
        )

    def seller(self) -> Party:
        """The portal as the seller its invoices name."""
        return Party(self.seller_name, self.seller_address, self.seller_country, self.seller_vat_id)

    @field_validator("teleservice_webhook_secret", "payment_provider_secret")
    @classmethod
    def _webhook_secret_format(cls, value: str | None) -> str | None:
        if value is not None:
            _webhook_secret_key(value)  # refused at start, not at the first message
        return value

    def vin_search_value(self, vin: str) -> str:
        """What the `Vin` search attribute holds for `vin` (contracts.search_attributes)."""
        key = hashlib.sha256(b"aos-vin-search\x00" + self.secret().encode()).digest()
        return vin_search_value(vin, key)

    @property
    def packages_dir(self) -> Path:
        """Verified flash packages, one directory each (manifest.json + segment files)."""
        return self.data_dir / "packages"

    @property
    def traces_dir(self) -> Path:
        """Frame logs (ASC) of programming sessions, one directory per session."""
        return self.data_dir / "traces"

    @property
    def gateway_dir(self) -> Path:
        """The embedded mode's local CA and gateway certificate."""
        return self.data_dir / "gateway"

    def gateway_server_files(self) -> tuple[Path, Path] | None:
        """The gateway's certificate and key; None: the embedded mode makes its own local CA.

        The gateway speaks TLS only (a station sends its token with every call), and in
        production it does not run on a throw-away local CA.
        """
        if self.gateway_certificate_file and self.gateway_private_key_file:
            return self.gateway_certificate_file, self.gateway_private_key_file
        if self.environment == "production":
            raise ValueError(
                "AOS_GATEWAY_CERTIFICATE_FILE and AOS_GATEWAY_PRIVATE_KEY_FILE must be set in "
                "production: the station gateway speaks TLS only"
            )
        return None

    @property
    def console_cookies_secure(self) -> bool:
        """Whether the console's cookies are sent over HTTPS only."""
        if self.console_secure_cookies is not None:
            return self.console_secure_cookies
        return self.environment == "production"

    @property
    def temporal_ui_origins(self) -> frozenset[str]:
        """The origins whose pages may call the payload codec with credentials."""
        if self.temporal_ui_origin:
            return frozenset({self.temporal_ui_origin.rstrip("/")})
        if self.environment == "production":
            return frozenset()
        port = self.temporal_ui_port
        return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})

    @property
    def gateway_ca(self) -> Path:
        """The CA a station checks the gateway's certificate against."""
        return self.gateway_ca_file or self.gateway_dir / "ca.pem"

    def hardware_retry(self) -> HardwareRetry:
        """The retry of transient vehicle faults that a new programming session runs with."""
        return HardwareRetry(
            initial_seconds=self.hardware_retry_initial_seconds,
            maximum_seconds=self.hardware_retry_maximum_seconds,
        )

    def station_task_queue(self, station_id: str) -> str:
        """The task queue of one workshop station's worker."""
        return f"{self.station_task_queue_prefix}{station_id}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
