"""What the gateway is told: where to listen, where the frontend is, and how strict to be.

Plain data, so `worker.py gateway` can build it from settings and tests from fixtures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from gateway.certificates import ensure_certificates
from gateway.tokens import task_token_key
from settings import Settings

# The SDK accepts messages far above grpcio's 4 MiB default (histories, large payloads); a
# smaller limit here would fail calls that work against the frontend directly.
DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class FrontendTLS:
    """TLS towards the Temporal frontend (a cluster with TLS, optionally mutual)."""

    root_ca: bytes | None = None
    client_certificate: bytes | None = None
    client_private_key: bytes | None = None
    server_name: str | None = None


@dataclass(frozen=True)
class GatewayConfig:
    """One gateway: a listening address towards stations and one frontend behind it.

    `server_certificate`/`server_private_key` are PEM; both None means plaintext (tests and
    loopback only: station tokens would cross the network in the clear).
    """

    listen: str
    frontend: str
    namespace: str = "default"
    task_queue_prefix: str = "station-"
    server_certificate: bytes | None = None
    server_private_key: bytes | None = None
    frontend_tls: FrontendTLS | None = None
    # Sent with every forwarded call, e.g. the gateway's own credentials for the cluster. The
    # station's authorization header is never forwarded.
    frontend_metadata: Mapping[str, str] = field(default_factory=dict)
    # How often the token of an open call (a long poll) is checked again, so a replaced token
    # cuts the station off within this time rather than at the end of a 70 s poll.
    reauthenticate_every: timedelta = timedelta(seconds=2)
    # How long a task token stays usable past the task's own timeouts; the server's timers are
    # the authority, this only keeps the gateway from refusing what the server still accepts.
    task_token_grace: timedelta = timedelta(seconds=10)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # Seals the task tokens handed to stations; gateways with the same key (restarts,
    # replicas) accept each other's. None: a random key, good for this process only.
    task_token_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.server_certificate is None) != (self.server_private_key is None):
            raise ValueError("give both the server certificate and its key, or neither")
        if self.reauthenticate_every <= timedelta(0):
            raise ValueError("reauthenticate_every must be positive")

    def task_queue_of(self, station_id: str) -> str:
        return f"{self.task_queue_prefix}{station_id}"


def gateway_config(
    settings: Settings, *, listen: str | None = None, frontend: str | None = None
) -> GatewayConfig:
    """The gateway `settings` describe: its TLS files, or in the embedded mode a local CA and
    certificate under AOS_DATA_DIR/gateway (production refuses to run without real files)."""
    files = settings.gateway_server_files()
    if files is None:
        host = settings.gateway_listen.rpartition(":")[0] or "127.0.0.1"
        made = ensure_certificates(settings.gateway_dir, sorted({host, "127.0.0.1", "localhost"}))
        files = made.server_certificate_path, made.server_private_key_path
    return GatewayConfig(
        listen=listen or settings.gateway_listen,
        frontend=frontend or settings.temporal_address,
        namespace=settings.temporal_namespace,
        task_queue_prefix=settings.station_task_queue_prefix,
        server_certificate=files[0].read_bytes(),
        server_private_key=files[1].read_bytes(),
        task_token_key=task_token_key(settings.secret()),
    )
