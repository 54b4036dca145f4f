"""Crosswalk files: original -> de-identified values, in columns ``original,deidentified,kind``.

``--mapping-out`` writes one (it holds identity: mode 0600, never in the output tree, never by
default); ``--mapping-in`` reads a Patient ID -> pseudonym table (a research project's subject IDs)
in the same format. Errors name the file and line but never a value from it.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dicomscrub.pseudonym import Key, Pseudonymizer, normalize_id

COLUMNS = ("original", "deidentified", "kind")
PATIENT_KIND = "PatientID"


class CrosswalkError(Exception):
    """A crosswalk file that cannot be used; the message holds no value from the file."""


def _valid_pseudonym(value: str) -> bool:
    return 0 < len(value) <= 64 and "\\" not in value and value.isprintable()


def read_subjects(path: Path) -> dict[str, str]:
    """Patient ID -> pseudonym from ``path``: rows whose kind is PatientID (or empty)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CrosswalkError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CrosswalkError(f"{path}: not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _parse_subjects(path, reader)
    except csv.Error as exc:
        raise CrosswalkError(
            f"{path}:{max(reader.line_num, 1)}: not readable as CSV ({exc.__class__.__name__}: "
            "for example a field longer than 131072 characters or a stray quote)"
        ) from None


def _parse_subjects(path: Path, reader: Any) -> dict[str, str]:  # reader: a csv reader
    header = next(reader, None)
    if header is None:
        raise CrosswalkError(
            f"{path}:1: empty file; expected the header original,deidentified,kind"
        )
    names = [h.strip().lower() for h in header]
    if "original" not in names or "deidentified" not in names:
        raise CrosswalkError(
            f"{path}:1: the header must name the columns original and deidentified "
            "(and optionally kind)"
        )
    col_orig, col_new = names.index("original"), names.index("deidentified")
    col_kind = names.index("kind") if "kind" in names else None
    subjects: dict[str, str] = {}
    first_line: dict[str, int] = {}
    owner: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CrosswalkError(f"{path}:{line}: expected {len(header)} columns, found {len(row)}")
        kind = row[col_kind].strip() if col_kind is not None else ""
        if kind not in ("", PATIENT_KIND):
            continue
        original = normalize_id(row[col_orig])
        pseudonym = row[col_new].strip()
        if not original:
            raise CrosswalkError(f"{path}:{line}: empty original Patient ID")
        if not _valid_pseudonym(pseudonym):
            raise CrosswalkError(
                f"{path}:{line}: the pseudonym must be 1 to 64 printable characters without '\\'"
            )
        if original in subjects:
            raise CrosswalkError(
                f"{path}:{line}: this original Patient ID is already mapped on line "
                f"{first_line[original]}"
            )
        if pseudonym in owner:
            raise CrosswalkError(
                f"{path}:{line}: this pseudonym is already given to another patient on line "
                f"{owner[pseudonym]}"
            )
        subjects[original] = pseudonym
        first_line[original] = line
        owner[pseudonym] = line
    return subjects


def read_crosswalk(path: Path) -> set[tuple[str, str, str]]:
    """The rows of an existing crosswalk (to merge into); CrosswalkError if it is not one."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CrosswalkError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CrosswalkError(f"{path}: exists and is not a UTF-8 crosswalk; not replaced") from None
    if not text.strip():
        return set()
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in next(reader, [])]
        if not all(c in header for c in COLUMNS):
            raise CrosswalkError(
                f"{path}:1: exists but is not a crosswalk (header original,deidentified,kind); "
                "not replaced"
            )
        cols = [header.index(c) for c in COLUMNS]
        rows: set[tuple[str, str, str]] = set()
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CrosswalkError(
                    f"{path}:{reader.line_num}: expected {len(header)} columns, found {len(row)}"
                )
            rows.add((row[cols[0]], row[cols[1]], row[cols[2]]))
    except csv.Error as exc:
        raise CrosswalkError(
            f"{path}: not a readable CSV file ({exc.__class__.__name__})"
        ) from None
    return rows


def foreign_rows(rows: Iterable[tuple[str, str, str]], key: Key) -> int:
    """How many UID ``rows`` map a UID to a value ``key`` does not give it (nor to itself, as
    Retain UIDs does): rows a run with another key wrote."""
    uid = Pseudonymizer(key).uid
    return sum(
        1
        for original, new, kind in rows
        if kind.endswith("UID") and new not in (original, uid(original))
    )


def write_crosswalk(
    path: Path,
    rows: Iterable[tuple[str, str, str]],
    earlier: set[tuple[str, str, str]] | None = None,
) -> int:
    """Write ``earlier`` rows (by default those already in ``path``; a run reads them with
    :func:`read_crosswalk` before it starts) and ``rows`` to ``path``, sorted, mode 0600,
    atomically. Returns the number of rows in the file."""
    if earlier is None:
        earlier = read_crosswalk(path) if path.exists() else set()
    ordered = sorted(set(rows) | earlier, key=lambda r: (r[2], r[0], r[1]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(ordered)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(buffer.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(ordered)
