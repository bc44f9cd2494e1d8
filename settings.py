"""Settings for every process of the product, read from `AOS_*` environment variables and `.env`.

The defaults are the embedded mode (`make dev`): SQLite and the Temporal dev server under `.data/`.
Production must set its own secrets; the embedded defaults are refused there.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, IPvAnyNetwork, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.programming import HardwareRetry

EMBEDDED_SECRET = "embedded-mode-secret-do-not-use-in-production"
MiB = 1024 * 1024


class Settings(BaseSettings):
    """Every knob of the product. Each field is read from `AOS_<FIELD NAME>`."""

    model_config = SettingsConfigDict(env_prefix="AOS_", env_file=".env", extra="ignore")

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

    secret_key: str = Field(
        default=EMBEDDED_SECRET,
        description="Key for signing tokens; at least 32 characters in production.",
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
        "for new payloads, the others still decode (key rotation).",
    )

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
            if self.secret_key == EMBEDDED_SECRET or len(self.secret_key) < 32:
                raise ValueError(
                    "AOS_SECRET_KEY must be set to 32+ random characters in production (a station "
                    "worker on its own machine sets AOS_PORTAL_URL and AOS_STATION_TOKEN instead)"
                )
            if self.database_url.startswith("sqlite"):
                raise ValueError("AOS_DATABASE_URL must point to PostgreSQL in production")
        return self

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
