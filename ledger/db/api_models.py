"""Tables of the HTTP API's shared state (migration 0007_shared_sessions).

Every API worker process reads and writes these, so `ledger serve --workers N` behaves as one
server: sign-in sessions (the hash of the token only), the single-use record of each sign-in
nonce spent, the rate-limit counters (fixed windows), the payment requests merchants created
through the API (reference, salt and commitment, so the merchant's view can show the reference of
a payment whose chain record is only the commitment) and the residents' choice to be named to the
prosumers they buy from. None of it is chain data: a reorg does not touch it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from ledger.db.models import Address, Base
from ledger.db.types import U256


class ApiSession(Base):
    __tablename__ = "api_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(Address)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_api_sessions_expires", "expires_at"),)


class ApiUsedNonce(Base):
    __tablename__ = "api_used_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_api_used_nonces_expires", "expires_at"),)


class ApiRateWindow(Base):
    __tablename__ = "api_rate_windows"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


class ApiPaymentRequest(Base):
    __tablename__ = "api_payment_requests"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger)
    reference: Mapped[str] = mapped_column(String(200))
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    amount: Mapped[int] = mapped_column(U256)
    created_at: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("ix_api_payment_requests_merchant", "chain_id", "merchant_id"),)


class ApiMerchantAddress(Base):
    """A merchant's street address for the directory: the registry on chain holds no address,
    and a shop that moves must not need a transaction (set by a registrar through the API)."""

    __tablename__ = "api_merchant_addresses"
    chain_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    street_address: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[int] = mapped_column(BigInteger)


class ApiNamedAccount(Base):
    __tablename__ = "api_named_accounts"
    address: Mapped[str] = mapped_column(Address, primary_key=True)
    named: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[int] = mapped_column(BigInteger)
