"""Passwords (Argon2id) and the random secrets of API keys and sign-in cookies."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_START = "st_"
PREFIX_CHARS = 8  # after KEY_START: what people see of a key in lists

_hasher = PasswordHasher()
# Verified when no such user exists, so that a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """What is stored of a key or a cookie token: they are 256 random bits, so a fast hash
    is as safe as a slow one, and checking a request costs one indexed lookup."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A new key and its visible prefix."""
    key = KEY_START + secrets.token_urlsafe(32)
    return key, key[: len(KEY_START) + PREFIX_CHARS]


def new_session_token() -> str:
    return secrets.token_urlsafe(32)
