"""Reading and writing access records: prices, the credit ledger, vouchers, purchases, tickets.

The API and the access activities share this one implementation. Every balance-changing
transaction first locks the workshop's `credit_accounts` row, so concurrent purchases queue
and the balance they check is the balance they change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.coverage import coverage_windows, coverage_windows_by_service
from db.engine import reading
from db.models import (
    CreditAccount,
    LedgerEntry,
    PriceChange,
    Ticket,
    TicketPurchase,
    User,
    Voucher,
    Workshop,
)
from db.prices import DEFAULT_PRICES_FILE, current_price_list
from db.rows import get_or_raise, insert_once
from domain.catalogue import PriceList, Service, TicketPeriod, period_end
from domain.credit import (
    IdempotencyKeyReused,
    LedgerEntryKind,
    PaymentDeclined,
    PaymentGateway,
    TicketNotIssued,
    VoucherExists,
    VoucherUnknown,
    VoucherUsed,
    check_amount,
    ensure_affordable,
    ensure_same_request,
    normalise_voucher_code,
    request_fingerprint,
)
from domain.entitlement import (
    Coverage,
    CoverageWindow,
    check_access,
    next_ticket_start,
)
from domain.entitlement import remaining as remaining_in
from domain.errors import Conflict, NotFound
from domain.languages import Language, language_or_default


class PurchaseState:
    RESERVED = "reserved"
    ISSUED = "issued"
    CONFIRMED = "confirmed"
    RELEASED = "released"


@dataclass(frozen=True)
class AccountPage:
    balance_cents: int
    entries: Sequence[LedgerEntry]
    total: int


async def _language_of(session: AsyncSession, workshop: Workshop) -> Language:
    """The language of the workshop's contact address's account (English when it is nobody's
    account): the expiry notices' language."""
    language = await session.scalar(
        select(User.language).where(User.email == workshop.contact_email)
    )
    return language_or_default(language)


class AccessRepository:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        price_file: Path = DEFAULT_PRICES_FILE,
    ) -> None:
        self._session_factory = session_factory
        self._price_file = price_file

    # --- catalogue --------------------------------------------------------------------------

    async def _price_list(self, session: AsyncSession) -> PriceList:
        return await current_price_list(session, self._price_file)

    async def price_list(self) -> PriceList:
        async with reading(self._session_factory) as session:
            return await self._price_list(session)

    async def change_prices(
        self, changes: dict[tuple[Service, TicketPeriod], int], changed_by: str
    ) -> PriceList:
        now = datetime.now(UTC)
        async with self._session_factory() as session, session.begin():
            current = await self._price_list(session)
            current.with_changes(changes)  # validates every price before anything is stored
            for (service, period), price in changes.items():
                session.add(
                    PriceChange(
                        service=service.value,
                        period=period.value,
                        price_cents=price,
                        changed_by=changed_by,
                        changed_at=now,
                    )
                )
            await session.flush()
            return await self._price_list(session)

    # --- the account ------------------------------------------------------------------------

    async def ensure_workshop(self, session: AsyncSession, workshop_id: str) -> Workshop:
        missing = NotFound("no workshop with this id")
        return await get_or_raise(session, Workshop, workshop_id, missing)

    async def require_workshop(self, workshop_id: str) -> None:
        async with reading(self._session_factory) as session:
            await self.ensure_workshop(session, workshop_id)

    async def _lock_account(self, session: AsyncSession, workshop_id: str) -> None:
        await self.ensure_workshop(session, workshop_id)
        dialect = session.bind.dialect.name if session.bind else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(CreditAccount)
            .values(workshop_id=workshop_id, created_at=datetime.now(UTC))
            .on_conflict_do_nothing(index_elements=["workshop_id"])
        )
        await session.execute(
            select(CreditAccount.workshop_id)
            .where(CreditAccount.workshop_id == workshop_id)
            .with_for_update()
        )

    async def _balance(self, session: AsyncSession, workshop_id: str) -> int:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
                LedgerEntry.workshop_id == workshop_id
            )
        )
        return int(total or 0)

    async def _entry_by_key(
        self, session: AsyncSession, workshop_id: str, key: str
    ) -> LedgerEntry | None:
        entry: LedgerEntry | None = await session.scalar(
            select(LedgerEntry).where(
                LedgerEntry.workshop_id == workshop_id, LedgerEntry.idempotency_key == key
            )
        )
        return entry

    async def _earlier_entry(
        self, session: AsyncSession, workshop_id: str, key: str, fingerprint: str
    ) -> LedgerEntry | None:
        """The entry an earlier request with this idempotency key made (None: there was none);
        `idempotency-key-reused` when that request was another one."""
        existing = await self._entry_by_key(session, workshop_id, key)
        if existing is not None:
            ensure_same_request(existing.request_fingerprint, fingerprint)
        return existing

    async def _open_ledger(
        self, session: AsyncSession, workshop_id: str, key: str, fingerprint: str
    ) -> LedgerEntry | None:
        """The opening of every idempotent credit: lock the workshop's account, then find the
        entry an earlier request with the same key made (None: this request is the first, and
        the lock keeps it so until the transaction ends)."""
        await self._lock_account(session, workshop_id)
        return await self._earlier_entry(session, workshop_id, key, fingerprint)

    @staticmethod
    def _add_entry(
        session: AsyncSession,
        kind: LedgerEntryKind,
        workshop_id: str,
        amount_cents: int,
        key: str,
        fingerprint: str | None,
        reference: str | None,
        created_by: str | None,
    ) -> LedgerEntry:
        entry = LedgerEntry(
            workshop_id=workshop_id,
            kind=kind.value,
            amount_cents=amount_cents,
            idempotency_key=key,
            request_fingerprint=fingerprint,
            reference=reference,
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
        session.add(entry)
        return entry

    async def balance(self, workshop_id: str) -> int:
        async with reading(self._session_factory) as session:
            return await self._balance(session, workshop_id)

    async def account(self, workshop_id: str, limit: int, offset: int) -> AccountPage:
        async with reading(self._session_factory) as session:
            await self.ensure_workshop(session, workshop_id)
            entries = (
                await session.scalars(
                    select(LedgerEntry)
                    .where(LedgerEntry.workshop_id == workshop_id)
                    .order_by(LedgerEntry.id.desc())
                    .limit(limit)
                    .offset(offset)
                )
            ).all()
            total = await session.scalar(
                select(func.count()).where(LedgerEntry.workshop_id == workshop_id)
            )
            return AccountPage(await self._balance(session, workshop_id), entries, int(total or 0))

    async def top_up(
        self,
        workshop_id: str,
        idempotency_key: str,
        amount_cents: int,
        payment_token: str | None,
        created_by: str,
        gateway: PaymentGateway,
    ) -> LedgerEntry:
        """Charge through the gateway, then credit the ledger; a retry returns the first entry."""
        check_amount(amount_cents)
        key = f"top-up:{idempotency_key}"
        fingerprint = request_fingerprint({"amount_cents": amount_cents, "token": payment_token})
        async with reading(self._session_factory) as session:
            await self.ensure_workshop(session, workshop_id)
            existing = await self._earlier_entry(session, workshop_id, key, fingerprint)
        if existing is not None:
            return existing
        # The gateway call stays outside the lock; the gateway itself is idempotent per key.
        payment = await gateway.charge(f"{workshop_id}:{key}", amount_cents, payment_token)
        if not payment.approved:
            raise PaymentDeclined(
                payment.reason or "the payment provider declined the payment",
                amount_cents=amount_cents,
            )
        try:
            async with self._session_factory() as session, session.begin():
                existing = await self._open_ledger(session, workshop_id, key, fingerprint)
                if existing is not None:
                    return existing
                entry = self._add_entry(
                    session,
                    LedgerEntryKind.TOP_UP,
                    workshop_id,
                    amount_cents,
                    key,
                    fingerprint,
                    payment.reference,
                    created_by,
                )
            return entry
        except IntegrityError:  # a concurrent retry of the same request won the race
            async with reading(self._session_factory) as session:
                existing = await self._earlier_entry(session, workshop_id, key, fingerprint)
            if existing is None:
                raise
            return existing

    # --- vouchers ---------------------------------------------------------------------------

    async def create_voucher(self, code: str | None, amount_cents: int, created_by: str) -> Voucher:
        check_amount(amount_cents)
        code = (
            normalise_voucher_code(code)
            if code is not None
            else f"V-{uuid.uuid4().hex[:12].upper()}"
        )
        voucher = Voucher(
            code=code,
            amount_cents=amount_cents,
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
        if not await insert_once(self._session_factory, voucher):
            raise VoucherExists("a voucher with this code exists", field="code")
        return voucher

    async def redeem_voucher(
        self, workshop_id: str, idempotency_key: str, code: str, created_by: str
    ) -> LedgerEntry:
        code = normalise_voucher_code(code)
        key = f"voucher:{idempotency_key}"
        fingerprint = request_fingerprint({"code": code})
        async with self._session_factory() as session, session.begin():
            existing = await self._open_ledger(session, workshop_id, key, fingerprint)
            if existing is not None:
                return existing
            voucher = await session.scalar(
                select(Voucher).where(Voucher.code == code).with_for_update()
            )
            if voucher is None:
                raise VoucherUnknown("no voucher has this code", field="code")
            if voucher.redeemed_at is not None:
                raise VoucherUsed("this voucher has been redeemed already", field="code")
            now = datetime.now(UTC)
            voucher.redeemed_at, voucher.redeemed_by_workshop_id = now, workshop_id
            entry = self._add_entry(
                session,
                LedgerEntryKind.VOUCHER,
                workshop_id,
                voucher.amount_cents,
                key,
                fingerprint,
                code,
                created_by,
            )
        return entry

    # --- purchases (the steps of TicketPurchaseWorkflow) ------------------------------------

    async def reserve_credit(
        self,
        workshop_id: str,
        idempotency_key: str,
        service: Service,
        period: TicketPeriod,
        requested_by: str | None,
    ) -> TicketPurchase:
        """Take the price off the balance, or refuse with the balance and the price."""
        async with self._session_factory() as session, session.begin():
            await self._lock_account(session, workshop_id)
            purchase = await session.scalar(
                select(TicketPurchase).where(
                    TicketPurchase.workshop_id == workshop_id,
                    TicketPurchase.idempotency_key == idempotency_key,
                )
            )
            if purchase is not None:
                if (purchase.service, purchase.period) != (service.value, period.value):
                    raise IdempotencyKeyReused(
                        "this idempotency key was used for another ticket; use a new key",
                        field="Idempotency-Key",
                    )
                if purchase.state == PurchaseState.RELEASED:
                    raise TicketNotIssued("the ticket of this request could not be issued")
                return purchase
            price = (await self._price_list(session)).price(service, period)
            ensure_affordable(await self._balance(session, workshop_id), price)
            now = datetime.now(UTC)
            purchase = TicketPurchase(
                id=f"tp-{uuid.uuid4().hex}",
                workshop_id=workshop_id,
                idempotency_key=idempotency_key,
                service=service.value,
                period=period.value,
                price_cents=price,
                state=PurchaseState.RESERVED,
                requested_by=requested_by,
                created_at=now,
                updated_at=now,
            )
            session.add(purchase)
            await session.flush()
            key = f"purchase:{idempotency_key}"
            self._add_entry(
                session,
                LedgerEntryKind.PURCHASE,
                workshop_id,
                -price,
                key,
                None,
                purchase.id,
                requested_by,
            )
        return purchase

    async def _purchase(self, session: AsyncSession, purchase_id: str) -> TicketPurchase:
        missing = NotFound("no purchase with this id")
        return await get_or_raise(session, TicketPurchase, purchase_id, missing)

    async def issue_ticket(self, purchase_id: str, at: datetime) -> tuple[Ticket, str, Language]:
        """The ticket of a reserved purchase, starting at `at` or when current coverage ends.

        Returns the ticket, the workshop's contact address and its account's language (for
        expiry notices).
        """
        async with self._session_factory() as session, session.begin():
            purchase = await self._purchase(session, purchase_id)
            await self._lock_account(session, purchase.workshop_id)
            workshop = await self.ensure_workshop(session, purchase.workshop_id)
            if purchase.ticket_id is not None:
                ticket = await session.get(Ticket, purchase.ticket_id)
                assert ticket is not None
                return ticket, workshop.contact_email, await _language_of(session, workshop)
            if purchase.state == PurchaseState.RELEASED:
                raise TicketNotIssued("the credit of this purchase was returned already")
            service, period = Service(purchase.service), TicketPeriod(purchase.period)
            windows = await coverage_windows(session, purchase.workshop_id, service)
            starts_at = next_ticket_start(windows, at)
            ticket = Ticket(
                id=f"tk-{uuid.uuid4().hex}",
                workshop_id=purchase.workshop_id,
                service=service.value,
                period=period.value,
                price_cents=purchase.price_cents,
                starts_at=starts_at,
                ends_at=period_end(starts_at, period),
                purchase_id=purchase.id,
                created_at=datetime.now(UTC),
            )
            session.add(ticket)
            purchase.ticket_id, purchase.state, purchase.updated_at = (
                ticket.id,
                PurchaseState.ISSUED,
                datetime.now(UTC),
            )
            language = await _language_of(session, workshop)
        return ticket, workshop.contact_email, language

    async def confirm_purchase(self, purchase_id: str) -> None:
        async with self._session_factory() as session, session.begin():
            purchase = await self._purchase(session, purchase_id)
            if purchase.state == PurchaseState.ISSUED:
                purchase.state, purchase.updated_at = PurchaseState.CONFIRMED, datetime.now(UTC)
            elif purchase.state != PurchaseState.CONFIRMED:
                raise Conflict(f"a {purchase.state} purchase cannot be confirmed")

    async def release_credit(self, purchase_id: str) -> bool:
        """Give the reserved credit back (a refund entry). False if the ticket exists after all."""
        async with self._session_factory() as session, session.begin():
            purchase = await self._purchase(session, purchase_id)
            await self._lock_account(session, purchase.workshop_id)
            if purchase.ticket_id is not None:
                return False
            if purchase.state == PurchaseState.RELEASED:
                return True
            key = f"refund:{purchase.idempotency_key}"
            self._add_entry(
                session,
                LedgerEntryKind.REFUND,
                purchase.workshop_id,
                purchase.price_cents,
                key,
                None,
                purchase.id,
                None,
            )
            purchase.state, purchase.updated_at = PurchaseState.RELEASED, datetime.now(UTC)
        return True

    # --- tickets and the access check -------------------------------------------------------

    async def windows(self, workshop_id: str, service: Service) -> list[CoverageWindow]:
        async with reading(self._session_factory) as session:
            return await coverage_windows(session, workshop_id, service)

    async def tickets(self, workshop_id: str, service: Service | None = None) -> Sequence[Ticket]:
        async with reading(self._session_factory) as session:
            await self.ensure_workshop(session, workshop_id)
            query = select(Ticket).where(Ticket.workshop_id == workshop_id)
            if service is not None:
                query = query.where(Ticket.service == service.value)
            return (await session.scalars(query.order_by(Ticket.starts_at.desc()))).all()

    async def check_entitlement(self, workshop_id: str, service: Service, at: datetime) -> Coverage:
        """The one access check: coverage at `at`, or AccessExpired / NoAccess."""
        return check_access(workshop_id, service, await self.windows(workshop_id, service), at)

    async def remaining(self, workshop_id: str, service: Service, at: datetime) -> timedelta:
        """Covered time left from `at` on (zero without coverage)."""
        return remaining_in(await self.windows(workshop_id, service), at)

    async def windows_by_service(self, workshop_id: str) -> dict[Service, list[CoverageWindow]]:
        """Every service's ticket windows, in one read (`not-found` for an unknown workshop)."""
        async with reading(self._session_factory) as session:
            await self.ensure_workshop(session, workshop_id)
            return await coverage_windows_by_service(session, workshop_id)
