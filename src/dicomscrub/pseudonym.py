"""Keyed, stateless replacement values: UIDs and per-patient date offsets.

Every replacement is derived only from a secret key and the original value (HMAC-SHA256), so
the same original maps to the same replacement in every file, every run and on every machine
that has the key, and nothing can be reversed or recomputed without the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_ENV = "DICOMSCRUB_KEY"
MIN_KEY_BYTES = 16
DATE_SHIFT_MAX_DAYS = 3650


class KeyError_(Exception):
    """A key that cannot be used (the message never contains the key)."""


@dataclass(frozen=True)
class Key:
    """The secret behind every pseudonym. ``origin`` says where it came from; never the key."""

    secret: bytes
    origin: str  # "file", "environment" or "random"

    def __repr__(self) -> str:  # never print the secret
        return f"Key(origin={self.origin!r})"

    @property
    def fingerprint(self) -> str:
        """A short non-reversible identifier of the key, for the resume digest (not for humans)."""
        return hashlib.sha256(b"dicomscrub-key-fingerprint\0" + self.secret).hexdigest()[:16]

    def digest(self, purpose: str, value: str) -> bytes:
        msg = purpose.encode("ascii") + b"\0" + value.encode("utf-8", "surrogateescape")
        return hmac.digest(self.secret, msg, "sha256")  # (hmac.new(...).digest(), in one call)


def random_key() -> Key:
    return Key(secrets.token_bytes(32), "random")


def write_new_key(path: Path) -> None:
    """Write a new key (256 random bits as 64 hex digits) to ``path`` with mode 0600.

    Refuses to replace an existing file: losing a key breaks linkage with earlier outputs.
    """
    text = (secrets.token_hex(32) + "\n").encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)


def _decode(raw: bytes, where: str) -> bytes:
    secret = raw.strip()
    if len(secret) < MIN_KEY_BYTES:
        raise KeyError_(
            f"{where}: a key needs at least {MIN_KEY_BYTES} bytes; this one is too short"
        )
    return secret


def load_key(key_file: Path | None) -> Key:
    """The key from ``key_file``, else from $DICOMSCRUB_KEY (an error when set but empty), else
    a random one for this run."""
    if key_file is not None:
        if key_file.exists() and not key_file.is_file():  # (a FIFO would wait for a writer)
            raise KeyError_(f"{key_file}: not a regular file (a FIFO, a device or a socket)")
        try:
            raw = key_file.read_bytes()
        except OSError as exc:
            raise KeyError_(f"{key_file}: cannot read key file: {exc.strerror}") from None
        return Key(_decode(raw, str(key_file)), "file")
    env = os.environ.get(KEY_ENV)
    if env is not None:  # set but empty: a missing CI secret, not a wish for a random key
        if not env.strip():
            raise KeyError_(
                f"${KEY_ENV} is set but empty; give it a key (dicomscrub keygen FILE) or unset it"
            )
        return Key(_decode(env.encode("utf-8"), f"${KEY_ENV}"), "environment")
    return random_key()


def is_standard_uid(uid: str) -> bool:
    """UIDs defined by the standard (SOP classes, transfer syntaxes, ...) are never replaced."""
    return uid.startswith("1.2.840.10008.")


PSEUDONYM_CHARS = 16
"""Base32 characters of HMAC in a pseudonym: 80 bits, so no two patients meet in practice."""


def normalize_id(value: str) -> str:
    return " ".join(value.split())


def normalize_name(value: str) -> str:
    """One spelling per person: case, extra spaces and trailing empty components do not count."""
    groups = []
    for group in value.upper().split("="):
        parts = [" ".join(part.split()) for part in group.split("^")]
        while parts and not parts[-1]:
            parts.pop()
        groups.append("^".join(parts))
    while groups and not groups[-1]:
        groups.pop()
    return "=".join(groups)


class Pseudonymizer:
    """Maps originals to replacements with one key."""

    def __init__(self, key: Key, subjects: dict[str, str] | None = None) -> None:
        self.key = key
        self._uids: dict[str, str] = {}
        self.subjects = subjects or {}
        """Imported Patient ID -> pseudonym table (--mapping-in); it wins over the HMAC."""

    def uid(self, original: str) -> str:
        """``2.25.<int>``: 128 bits of HMAC(key, original UID); standard UIDs are returned as is."""
        uid = original.strip().rstrip("\0").strip()
        if not uid or is_standard_uid(uid):
            return uid
        cached = self._uids.get(uid)
        if cached is None:
            number = int.from_bytes(self.key.digest("uid", uid)[:16], "big")
            cached = f"2.25.{number}"
            if len(self._uids) > 100_000:
                self._uids.clear()
            self._uids[uid] = cached
        return cached

    def date_offset(
        self, patient: str, days: tuple[int, int] = (-DATE_SHIFT_MAX_DAYS, -1)
    ) -> dt.timedelta:
        """A per-patient whole number of days in ``days`` (inclusive), never zero."""
        low, high = days
        count = high - low + 1 - (1 if low <= 0 <= high else 0)
        number = int.from_bytes(self.key.digest("date-shift", normalize_id(patient))[:8], "big")
        offset = low + number % count
        if low <= 0 <= offset:
            offset += 1
        return dt.timedelta(days=offset)

    def patient_pseudonym(self, kind: str, original: str, prefix: str, patient_id: str) -> str:
        """``prefix`` + 16 base32 characters of HMAC(key, normalised original).

        ``kind`` is "id" (Patient ID) or "name" (Patient's Name, normalised with
        :func:`normalize_name`); an imported subject for ``patient_id`` wins for both.
        """
        subject = self.subjects.get(normalize_id(patient_id))
        if subject is not None:
            return subject
        norm = normalize_name(original) if kind == "name" else normalize_id(original)
        digest = self.key.digest(f"patient-{kind}", norm)
        return prefix + base64.b32encode(digest).decode("ascii")[:PSEUDONYM_CHARS]
