"""Keys (file, environment, random) and keyed replacement values; the secret never shows."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from pathlib import Path

import pytest

from dicomscrub.pseudonym import (
    KEY_ENV,
    Key,
    KeyError_,
    Pseudonymizer,
    is_standard_uid,
    load_key,
)

SECRET = b"0123456789abcdef-site-secret"


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_key_from_file_ignores_surrounding_whitespace(tmp_path: Path) -> None:
    path = tmp_path / "site.key"
    path.write_bytes(b"  " + SECRET + b"\n")
    key = load_key(path)
    assert key.secret == SECRET
    assert key.origin == "file"


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SECRET.decode())
    key = load_key(None)
    assert key.secret == SECRET
    assert key.origin == "environment"


def test_key_file_wins_over_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "environment-secret-0123456789")
    path = tmp_path / "site.key"
    path.write_bytes(SECRET)
    assert load_key(path).secret == SECRET


def test_random_key_without_file_or_environment() -> None:
    first, second = load_key(None), load_key(None)
    assert first.origin == second.origin == "random"
    assert len(first.secret) >= 16
    assert first.secret != second.secret


@pytest.mark.parametrize("value", ["", "  \n"])
def test_an_empty_environment_variable_is_an_error_not_a_random_key(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """Set but empty is a CI secret that did not arrive: a random key would break the linkage
    with earlier runs without anyone asking for it."""
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(KeyError_) as info:
        load_key(None)
    assert str(info.value) == (
        f"${KEY_ENV} is set but empty; give it a key (dicomscrub keygen FILE) or unset it"
    )


def test_too_short_key_file_error_never_shows_the_key(tmp_path: Path) -> None:
    path = tmp_path / "short.key"
    path.write_bytes(b"s3cr3t-xyz\n")
    with pytest.raises(KeyError_) as info:
        load_key(path)
    message = str(info.value)
    assert message == f"{path}: a key needs at least 16 bytes; this one is too short"
    assert "s3cr3t" not in message


def test_too_short_environment_key_error_never_shows_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "s3cr3t-xyz")
    with pytest.raises(KeyError_) as info:
        load_key(None)
    assert str(info.value) == f"${KEY_ENV}: a key needs at least 16 bytes; this one is too short"


def test_unreadable_key_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError_, match=r"cannot read key file"):
        load_key(tmp_path / "missing.key")


def test_key_repr_and_str_never_show_the_secret() -> None:
    key = Key(SECRET, "file")
    for text in (repr(key), str(key), f"{key}", f"{key!r}", repr([key])):
        assert "0123456789abcdef" not in text
        assert SECRET.hex() not in text
    assert repr(key) == "Key(origin='file')"


def test_fingerprint_does_not_reveal_the_secret() -> None:
    key = Key(SECRET, "file")
    assert SECRET.decode() not in key.fingerprint
    assert key.fingerprint != Key(b"another-secret-of-16+", "file").fingerprint


# ---- replacement values -------------------------------------------------------------------------


def test_uid_is_2_25_and_first_128_bits_of_hmac_sha256() -> None:
    # The derivation is the contract that makes UIDs match across runs, machines and versions.
    key = Key(SECRET, "file")
    digest = hmac.new(SECRET, b"uid\x001.2.3.4", hashlib.sha256).digest()
    expected = f"2.25.{int.from_bytes(digest[:16], 'big')}"
    assert Pseudonymizer(key).uid("1.2.3.4") == expected
    assert len(expected) <= 64


def test_uid_ignores_padding_of_the_original() -> None:
    pseudo = Pseudonymizer(Key(SECRET, "file"))
    assert pseudo.uid("1.2.3.4\0") == pseudo.uid(" 1.2.3.4 ") == pseudo.uid("1.2.3.4")


def test_uid_is_the_same_for_every_pseudonymizer_with_the_key() -> None:
    assert Pseudonymizer(Key(SECRET, "file")).uid("1.2.3") == Pseudonymizer(
        Key(SECRET, "environment")
    ).uid("1.2.3")


def test_uid_differs_between_keys_and_between_originals() -> None:
    pseudo = Pseudonymizer(Key(SECRET, "file"))
    other = Pseudonymizer(Key(b"another-secret-of-16+", "file"))
    assert pseudo.uid("1.2.3") != other.uid("1.2.3")
    assert pseudo.uid("1.2.3") != pseudo.uid("1.2.4")


@pytest.mark.parametrize("uid", ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.1.2.1"])
def test_standard_uids_are_returned_unchanged(uid: str) -> None:
    assert is_standard_uid(uid)
    assert Pseudonymizer(Key(SECRET, "file")).uid(uid) == uid


def test_uid_that_only_looks_standard_is_replaced() -> None:
    assert not is_standard_uid("1.2.840.100081.5")
    assert Pseudonymizer(Key(SECRET, "file")).uid("1.2.840.100081.5").startswith("2.25.")


def test_date_offset_is_a_nonzero_shift_into_the_past_of_at_most_3650_days() -> None:
    pseudo = Pseudonymizer(Key(SECRET, "file"))
    for patient in ("MRN0012345", "MRN0067890", "", "X"):
        offset = pseudo.date_offset(patient)
        assert -dt.timedelta(days=3650) <= offset <= -dt.timedelta(days=1)


def test_date_offset_depends_on_patient_and_key_only() -> None:
    pseudo = Pseudonymizer(Key(SECRET, "file"))
    again = Pseudonymizer(Key(SECRET, "file"))
    other = Pseudonymizer(Key(b"another-secret-of-16+", "file"))
    assert pseudo.date_offset("MRN0012345") == again.date_offset(" MRN0012345 ")
    assert pseudo.date_offset("MRN0012345") != other.date_offset("MRN0012345")
    assert pseudo.date_offset("MRN0012345") != pseudo.date_offset("MRN0067890")
