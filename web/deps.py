"""Request dependencies, each an `Annotated` alias a route can declare by type.

Who is calling: `CurrentUser` for any signed-in person (a bearer session token, valid only
from the IP address that logged in), `AdminUser` for portal staff, `AdminByTokenOrCookie` for
the payload codec (a bearer token, or the console's session cookie that the Temporal Web UI
sends), `CurrentStation` for the routes a station worker calls with its own token. What they may use: `ServiceHistoryAccess`
and `ProgrammingAccess` let a request through only while the workshop has the service covered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, get_args

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from application.accounts import live_session
from application.authorization import (
    SessionExpired,
    SessionIpChanged,
    StationTokenInvalid,
    ensure_administrator,
    ensure_workshop_access,
)
from application.payments import SandboxPaymentGateway
from application.programming import frame_log_store, package_store
from application.resources import AppResources
from db.access_repository import AccessRepository
from db.accounts import AccountRepository, LiveSession
from db.models import AuthSession, Station, User
from db.service_history import ServiceHistoryRepository
from db.stations import StationRepository
from domain.catalogue import Service
from domain.credit import PaymentGateway
from domain.entitlement import AccessExpired, Coverage, NoAccess
from domain.errors import Forbidden, Unauthenticated
from mail.senders import MailSender, mail_sender_for
from settings import Settings
from storage.frame_logs import FrameLogStore
from storage.packages import PackageStore
from web.auth import CODEC_SESSION_COOKIE, client_ip
from web.problems import WORKFLOW_UNAVAILABLE, ProblemSource


# The dependencies below are `async def` although they never await: FastAPI runs a plain `def`
# dependency in a worker thread, a hop per dependency per request that costs more than the
# dependency itself (measured with bench `api_start_ratio`).
async def get_resources(request: Request) -> AppResources:
    resources: AppResources = request.app.state.resources
    return resources


ResourcesDep = Annotated[AppResources, Depends(get_resources)]


async def get_settings_dep(resources: ResourcesDep) -> Settings:
    return resources.settings


async def get_temporal(resources: ResourcesDep) -> Client:
    return resources.temporal


async def get_session(resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    async with resources.session_factory() as session:
        yield session


async def get_mail_sender(resources: ResourcesDep) -> MailSender:
    return mail_sender_for(resources.settings, resources.session_factory)


_sandbox_gateway = SandboxPaymentGateway()


async def get_payment_gateway() -> PaymentGateway:
    """The payment provider; replace with `app.dependency_overrides[get_payment_gateway]`."""
    return _sandbox_gateway


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
PaymentGatewayDep = Annotated[PaymentGateway, Depends(get_payment_gateway)]
MailSenderDep = Annotated[MailSender, Depends(get_mail_sender)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_access_repository(resources: ResourcesDep) -> AccessRepository:
    return AccessRepository(resources.session_factory)


async def get_accounts(resources: ResourcesDep) -> AccountRepository:
    return AccountRepository(resources.session_factory)


async def get_packages(resources: ResourcesDep) -> PackageStore:
    return package_store(resources)


async def get_frame_logs(resources: ResourcesDep) -> FrameLogStore:
    return frame_log_store(resources)


async def get_stations(resources: ResourcesDep) -> StationRepository:
    return StationRepository(resources.session_factory)


async def get_service_history(resources: ResourcesDep) -> ServiceHistoryRepository:
    return ServiceHistoryRepository(resources.session_factory)


AccessRepositoryDep = Annotated[AccessRepository, Depends(get_access_repository)]
AccountsDep = Annotated[AccountRepository, Depends(get_accounts)]
PackagesDep = Annotated[PackageStore, Depends(get_packages)]
FrameLogsDep = Annotated[FrameLogStore, Depends(get_frame_logs)]
StationsDep = Annotated[StationRepository, Depends(get_stations)]
ServiceHistoryDep = Annotated[ServiceHistoryRepository, Depends(get_service_history)]

# --- who is calling ---------------------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, description="The session token from POST /auth/login")


async def signed_in(
    request: Request,
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> LiveSession:
    """The bearer token's session and account, read in one short read-only transaction of its
    own (the repository's) that ends here, before the route runs.

    The route's own session must not inherit an open transaction: a writing one holds SQLite's
    write lock, and a route awaiting a workflow whose activities write would wait on itself.
    The read takes no write lock (`db.engine.reading`), so it never queues behind writers.
    """
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("sign in with POST /auth/login and send the token as a Bearer token")
    return await _live_session(request, accounts, credentials.credentials)


async def _live_session(request: Request, accounts: AccountRepository, token: str) -> LiveSession:
    return await live_session(accounts, token, client_ip(request))


SignedInDep = Annotated[LiveSession, Depends(signed_in)]


async def current_session(signed: SignedInDep) -> AuthSession:
    """The caller's session (`signed_in` has the rules)."""
    return signed.session


CurrentSession = Annotated[AuthSession, Depends(current_session)]


async def current_user(auth: CurrentSession, signed: SignedInDep) -> User:
    """The signed-in person, detached: routes change the account through the repository.

    Read with the session in `signed_in` (FastAPI runs it once per request); `auth` keeps
    `current_session`, and the refusals declared for it, under every route that needs a user.
    """
    return signed.user


CurrentUser = Annotated[User, Depends(current_user)]


async def require_admin(user: CurrentUser) -> User:
    ensure_administrator(user)
    return user


AdminUser = Annotated[User, Depends(require_admin)]

codec_session_cookie = APIKeyCookie(
    name=CODEC_SESSION_COOKIE,
    scheme_name="CodecSessionCookie",
    auto_error=False,
    description="The console's session, sent by the Temporal Web UI's codec client with "
    '"Include cross-origin credentials" (an administrator signed in to the console)',
)


async def signed_in_by_token_or_cookie(
    request: Request,
    accounts: AccountsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(codec_session_cookie)],
) -> LiveSession:
    """The bearer token's session, else the console's (the payload codec, which the Temporal
    Web UI calls from the operator's browser: it can send cookies, not our bearer token)."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        return await _live_session(request, accounts, credentials.credentials)
    if cookie:
        return await _live_session(request, accounts, cookie)
    raise Unauthenticated(
        "send a session token from POST /auth/login as a Bearer token, or sign in to the "
        "console in this browser"
    )


async def require_admin_by_token_or_cookie(
    signed: Annotated[LiveSession, Depends(signed_in_by_token_or_cookie)],
) -> User:
    return await require_admin(signed.user)


AdminByTokenOrCookie = Annotated[User, Depends(require_admin_by_token_or_cookie)]


async def current_station(
    stations: StationsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Station:
    """The station whose own token is the Bearer token (a station worker calling the portal)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise StationTokenInvalid("send the station's token (AOS_STATION_TOKEN) as a Bearer token")
    station = await stations.by_token(credentials.credentials)
    if station is None:
        raise StationTokenInvalid(
            "the station token is unknown or was replaced; the workshop's owner issues a new "
            "one with POST /workshops/{workshop_id}/stations/{station_id}/token"
        )
    return station


CurrentStation = Annotated[Station, Depends(current_station)]


# --- what the caller's workshop may use -------------------------------------------------------


def require_entitlement(service: Service) -> Callable[..., Awaitable[Coverage]]:
    """A dependency that lets a request through only while the workshop has `service` covered.

    The workshop is the path parameter `workshop_id` when the route has one, else the caller's
    own workshop. Refusals are 403 problems `access-expired` (with `ended_at`) or `no-access`,
    both with `purchase`, the route to buy a ticket.
    """

    async def entitlement(
        request: Request, user: CurrentUser, repository: AccessRepositoryDep
    ) -> Coverage:
        workshop_id = request.path_params.get("workshop_id") or user.workshop_id
        if workshop_id is None:
            raise Forbidden(f"{service.value} is used on behalf of a workshop")
        ensure_workshop_access(user, workshop_id)
        return await repository.check_entitlement(workshop_id, service, datetime.now(UTC))

    return entitlement


ServiceHistoryAccess = Annotated[Coverage, Depends(require_entitlement(Service.SERVICE_HISTORY))]
ProgrammingAccess = Annotated[Coverage, Depends(require_entitlement(Service.ECU_PROGRAMMING))]


# --- what each dependency answers when it refuses (declared on every route that uses it) -------

DEPENDENCY_PROBLEMS: dict[Callable[..., Any], Sequence[ProblemSource]] = {
    signed_in: [Unauthenticated, SessionExpired, SessionIpChanged],
    signed_in_by_token_or_cookie: [Unauthenticated, SessionExpired, SessionIpChanged],
    require_admin: [Forbidden],
    require_admin_by_token_or_cookie: [Forbidden],
    current_station: [StationTokenInvalid],
    get_args(ServiceHistoryAccess)[1].dependency: [Forbidden, NoAccess, AccessExpired],
    get_args(ProgrammingAccess)[1].dependency: [Forbidden, NoAccess, AccessExpired],
    get_temporal: [WORKFLOW_UNAVAILABLE],
}
"""`web.problems.declare_route_problems` reads this: a route that depends on one of these
(directly or through another dependency) documents its refusals."""
