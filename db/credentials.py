"""How credentials are stored: argon2id password hashes, SHA-256 token hashes, TOTP secrets.

Tokens (sessions, invitations, resets) are random and only their hash is stored, so a database
leak yields no usable token.
"""

from __future__ import annotations

import hashlib
import secrets

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id, memory-hard; parameters from RFC 9106's second recommended option.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
TOTP_ISSUER = "AOS portal"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# A real hash to verify against when the account does not exist, so timing does not tell.
_ABSENT_USER_HASH = hash_password(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    verify_password(_ABSENT_USER_HASH, password)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def verify_totp(secret: str, code: str) -> bool:
    """Accepts the current code and one step either side (clock drift of phones)."""
    return pyotp.TOTP(secret).verify(code.strip(), valid_window=1)


def new_recovery_code() -> str:
    raw = secrets.token_hex(5)
    return f"{raw[:5]}-{raw[5:]}"
