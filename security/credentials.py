"""How credentials are made and checked: argon2id password hashes, SHA-256 token hashes, TOTP.

Tokens (sessions, invitations, resets) are random and only their hash is stored, so a database
leak yields no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pyotp.utils import strings_equal

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


def totp_step(secret: str, code: str) -> int | None:
    """The time step (RFC 6238's counter, Unix time // 30) whose code `code` is: the current
    one or one either side (clock drift of phones); None when it is none of them.

    The step, not a yes or no: a code works once, so the caller records the step it accepted
    and refuses that step and every earlier one afterwards.
    """
    totp = pyotp.TOTP(secret)
    now = totp.timecode(time.time())
    given = code.strip()
    for step in (now, now - 1, now + 1):
        if strings_equal(given, totp.generate_otp(step)):
            return step
    return None


def new_recovery_code() -> str:
    raw = secrets.token_hex(5)
    return f"{raw[:5]}-{raw[5:]}"
