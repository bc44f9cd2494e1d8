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

# What a station may send in one message: what the Temporal frontend accepts (grpc-go's 4 MiB
# default), so no call that the frontend would take is refused, and a stranger cannot make the
# gateway hold more per call.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# What the frontend may send back (task inputs, heartbeat details): the portal's own server,
# trusted, and bounded by its own payload limits.
FRONTEND_MAX_MESSAGE_BYTES = 128 * 1024 * 1024
# The gateway `worker.py gateway` runs keeps token lookups this long and re-checks open calls
# this often: a replaced token is refused within 1 s and cut off within 2 s.
PORTAL_AUTHENTICATION_TTL = timedelta(seconds=1)


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
    # How long the answer of a token lookup is kept (`authcache`), for up to
    # `authentication_cache_entries` tokens naming a station and as many naming nobody. Zero:
    # every call and re-check looks the token up. A replaced token then still works for up to
    # this long: open calls are cut within `authentication_ttl + reauthenticate_every`.
    authentication_ttl: timedelta = timedelta(0)
    authentication_cache_entries: int = 10_000
    # How long a task token stays usable past the task's own timeouts; the server's timers are
    # the authority, this only keeps the gateway from refusing what the server still accepts.
    task_token_grace: timedelta = timedelta(seconds=10)
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    # Calls open at once on one connection (HTTP/2 max concurrent streams): a worker of the
    # pinned SDK has its 5 polls, a heartbeat or answer per running activity and its worker
    # heartbeat open at most.
    max_streams_per_connection: int = 32
    # Per station, over all its connections: calls open at once, long polls open at once (the
    # SDK's default `activity_task_poller_behavior` is PollerBehaviorSimpleMaximum(5), which
    # station/worker.py keeps), and calls a second (a bucket of `burst` calls refilled at
    # `calls_per_second`; a station worker makes a few: a heartbeat a second per activity).
    max_calls_per_station: int = 32
    max_polls_per_station: int = 5
    calls_per_second_per_station: float = 20.0
    calls_burst_per_station: int = 100
    # Long polls of all stations together, below the frontend's 1200 concurrent polls per
    # namespace (`frontend.namespaceCount`), so the portal's workers can still poll.
    max_polls: int = 1000
    # A source address with this many failed authentications within the window is refused
    # without a token lookup until the window ends.
    failed_authentications_per_source: int = 20
    failed_authentications_window: timedelta = timedelta(seconds=60)
    # Per source address and interval, this many refusals are audited line by line; the rest
    # in one line with their count at the interval's end.
    audit_lines_per_source: int = 30
    audit_interval: timedelta = timedelta(seconds=60)
    # Pings on every connection, so the calls of a station that vanished (power cut, cable)
    # end, and free their places, within about keepalive + keepalive_timeout.
    keepalive: timedelta = timedelta(seconds=30)
    keepalive_timeout: timedelta = timedelta(seconds=10)
    # Seals the task tokens handed to stations; gateways with the same key (restarts,
    # replicas) accept each other's. None: a random key, good for this process only.
    task_token_key: bytes | None = None

    def __post_init__(self) -> None:
        if (self.server_certificate is None) != (self.server_private_key is None):
            raise ValueError("give both the server certificate and its key, or neither")
        if self.reauthenticate_every <= timedelta(0):
            raise ValueError("reauthenticate_every must be positive")
        if self.authentication_ttl < timedelta(0) or self.authentication_cache_entries < 1:
            raise ValueError("authentication_ttl must not be negative, the cache not empty")
        if self.max_polls_per_station > self.max_calls_per_station:
            raise ValueError("a station's polls are calls too: at most max_calls_per_station")

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
        # A station's lookups at most once a second, whatever it does; a replaced or released
        # token still cuts its open calls within 2 s (1 s of cache + a re-check every second).
        authentication_ttl=PORTAL_AUTHENTICATION_TTL,
        reauthenticate_every=PORTAL_AUTHENTICATION_TTL,
    )
