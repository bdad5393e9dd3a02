"""TOTP codes, recovery codes and how their secrets are kept.

pyotp computes the codes (RFC 6238: SHA-1, 6 digits, 30-second steps, what
every authenticator app reads from an otpauth:// URI); what to accept, how to
refuse a replay and how to keep the secret are Docket's, here and in
console.services.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key
derived from DOCKET_ACCOUNT_HASH_KEY, the one secret a deployment never
changes (rotating SECRET_KEY, which Django encourages, would lock every
enrolled person out). Recovery codes are kept as HMAC-SHA256 under another key
derived from it: a copy of the database alone yields neither.
"""

from __future__ import annotations

import base64
import functools
import re
import secrets

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

ISSUER = "Docket"
STEP_SECONDS = 30
DIGITS = 6
# Codes one step either side of now are accepted: phones' clocks drift.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: codes are read off paper. 31 symbols, 10 of them: ~49 bits each.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 10
_KEY_SALT = "docket.console.twofactor"


class SecretUnreadable(Exception):
    """The stored secret does not decrypt: DOCKET_ACCOUNT_HASH_KEY changed, or the row was edited."""


@functools.cache
def _fernet(account_hash_key: str) -> Fernet:
    raw = salted_hmac(_KEY_SALT, "secret-encryption", secret=account_hash_key, algorithm="sha256").digest()
    return Fernet(base64.urlsafe_b64encode(raw))


def encrypt_secret(secret: str) -> str:
    return _fernet(settings.DOCKET_ACCOUNT_HASH_KEY).encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet(settings.DOCKET_ACCOUNT_HASH_KEY).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("the two-factor secret cannot be decrypted with this DOCKET_ACCOUNT_HASH_KEY") from None


def new_secret() -> str:
    """160 random bits in base32, as RFC 4226 recommends and apps expect."""
    return pyotp.random_base32(length=32)


def grouped(secret: str) -> str:
    """The secret in blocks of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_data_uri(uri: str) -> str:
    """The otpauth:// URI as an SVG QR code in a data: URI (an <img>, so the page's CSP is untouched)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2, dark="#141a26", light="#ffffff")


def time_step(timestamp: float) -> int:
    return int(timestamp // STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, timestamp: float) -> int | None:
    """The time step whose code `code` is, among now and DRIFT_STEPS either side; None if none."""
    now = time_step(timestamp)
    found = None
    for step in range(now - DRIFT_STEPS, now + DRIFT_STEPS + 1):
        # Every candidate is compared, so the time taken says nothing about which matched.
        if constant_time_compare(code_at(secret, step), code):
            found = step
    return found


_SEPARATORS = re.compile(r"[\s-]+")


def normalise(code: str) -> str:
    return _SEPARATORS.sub("", code).lower()


def is_totp_code(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def looks_like_recovery_code(code: str) -> bool:
    return len(code) == RECOVERY_LENGTH and all(c in RECOVERY_ALPHABET for c in code)


def new_recovery_codes() -> list[str]:
    codes: set[str] = set()
    while len(codes) < RECOVERY_CODE_COUNT:
        codes.add("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)))
    return sorted(codes)


def display_recovery_code(code: str) -> str:
    half = RECOVERY_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def hash_recovery_code(code: str) -> str:
    """`code` normalised first, so "ABCDE-fghjk" and "abcdefghjk" are the same code."""
    return salted_hmac(
        _KEY_SALT, "recovery:" + normalise(code), secret=settings.DOCKET_ACCOUNT_HASH_KEY, algorithm="sha256"
    ).hexdigest()

