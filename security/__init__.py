"""Credentials: how passwords (argon2id), random tokens (stored as SHA-256 digests) and TOTP
second factors are made and checked (`security.credentials`).

Not in `db/`, which holds the database and nothing else: these are cryptography, with no
table of their own. The repositories store and look up what they produce (a station token's
digest, a session token's digest, a password hash), so it sits below `db`, and imports nothing
of the product.
"""
