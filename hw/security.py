"""Security access (UDS 0x27) seed/key algorithm, shared by tester and simulated ECUs.

Algorithm (deterministic, documented so any tester can reproduce it)::

    s      = seed as unsigned 32-bit big-endian integer
    secret = per-ECU 32-bit secret (SECRETS) XOR (level * 0x01010101)
    r      = 1 + secret % 31                      # rotation 1..31
    key    = rotl32(s XOR secret, r) XOR 0xA5C3_5A3C
    key bytes = key as 4 bytes big-endian

A seed of 00 00 00 00 means "already unlocked at this level"; no key is sent then.

The secrets are the simulated car's; a real deployment gets keys from the backend's key
service, which would replace :func:`compute_key`.
"""

from __future__ import annotations

from collections.abc import Mapping

SEED_LENGTH = 4
KEY_LENGTH = 4

SECRETS: Mapping[str, int] = {
    "ZGW": 0x1F2E3D4C,
    "DME": 0x5EC0_DE01,
    "EGS": 0x7A11_0E55,
    "BDC": 0x0BDC_2024,
    "KOMBI": 0x4B0B_1234,
}
DEFAULT_SECRET = 0x13579BDF


def secret_for(ecu_name: str) -> int:
    return SECRETS.get(ecu_name, DEFAULT_SECRET)


def _rotl32(value: int, shift: int) -> int:
    value &= 0xFFFFFFFF
    return ((value << shift) | (value >> (32 - shift))) & 0xFFFFFFFF


def compute_key(seed: bytes, secret: int, level: int) -> bytes:
    """The key for ``seed`` at security ``level`` (request-seed sub-function, odd)."""
    if len(seed) != SEED_LENGTH:
        raise ValueError(f"seed must be {SEED_LENGTH} bytes, got {len(seed)}")
    s = int.from_bytes(seed, "big")
    mixed_secret = (secret ^ (level * 0x01010101)) & 0xFFFFFFFF
    rotation = 1 + mixed_secret % 31
    key = _rotl32(s ^ mixed_secret, rotation) ^ 0xA5C35A3C
    return key.to_bytes(KEY_LENGTH, "big")


def key_for_ecu(ecu_name: str, seed: bytes, level: int) -> bytes:
    return compute_key(seed, secret_for(ecu_name), level)
