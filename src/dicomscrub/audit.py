"""The CSV audit: one ``file`` row per input, one ``private`` row per private element seen.

Written by the parent process only, in input order, to a temporary file renamed into place when the
run ends. It never holds an original attribute value: only paths, tags, creators (which name a
vendor's block, not a person: one that holds an identifying value of its input is masked, see
:func:`dicomscrub.check.find_leaks`), decisions and reasons.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import os
import re
import secrets
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from dicomscrub.discover import NAME_BYTES, name_text
from dicomscrub.pipeline import PrivateRecord
from dicomscrub.process import FileResult, Status

COLUMNS = (
    "record",
    "root",
    "input",
    "output",
    "status",
    "methods",
    "method_codes",
    "private_kept",
    "private_removed",
    "tag",
    "creator",
    "block_status",
    "decision",
    "basis",
    "detail",
)


def keep_interrupted(tmp: Path) -> Path | None:
    """The partial audit of a killed run holds the private rows of the files it wrote: keep it
    as ``<audit>.interrupted-<n>.csv`` rather than overwrite it."""
    return _keep_aside(tmp, tmp.name.removesuffix(".partial").removesuffix(".csv"), "interrupted")


def keep_earlier(path: Path) -> Path | None:
    """The audit of an earlier run into the same file, kept as ``<audit>.earlier-<n>.csv``: it
    holds the private rows of the files that run wrote (a re-run lists them as unchanged)."""
    return _keep_aside(path, path.name.removesuffix(".csv"), "earlier")


def _keep_aside(path: Path, base: str, kind: str) -> Path | None:
    """``path`` renamed to ``<base>.<kind>-<n>.csv``, the first such name not taken."""
    if not path.exists():
        return None
    n = 1
    while (path.parent / f"{base}.{kind}-{n}.csv").exists():
        n += 1
    target = path.parent / f"{base}.{kind}-{n}.csv"
    os.replace(path, target)
    return target


class AuditInUse(Exception):
    """Another run is writing the same audit file."""


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without flock: no lock, as before
        return True
    return True


class AuditWriter:
    """Context manager; rows go to ``<path>.partial`` and are renamed to ``path`` on close.

    ``fsync``: the rows are flushed to disk before the rename (``run --fsync``, as the outputs
    are), so that the audit survives a power loss; without it, as the outputs, it survives
    dicomscrub being killed."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self.tmp = path.with_name(path.name + ".partial")
        self._fh: BinaryIO | None = None
        self.kept_partial: Path | None = None
        self.kept_earlier: Path | None = None
        self._unsynced = 0  # bytes written since the kernel was last asked to write them out
        self.broken = False  # a write failed: the partial audit is kept as it is

    def __enter__(self) -> AuditWriter:
        return self if self._fh is not None else self.open()

    def open(self) -> AuditWriter:
        """Claim ``<path>.partial`` and write the header (AuditInUse, OSError: nothing to undo)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self._claim()
        self._fh.write(_csv_line(COLUMNS).encode("ascii"))
        self._fh.flush()  # a killed run's partial audit has at least its header
        return self

    def abandon(self) -> None:
        """Undo :meth:`open` for a run refused before it processed any file: its ``.partial``
        (still locked by this run, so no other run's) is removed. Nothing after the audit was
        closed."""
        if self._fh is None or self._fh.closed:
            return
        with contextlib.suppress(OSError):
            self.tmp.unlink()
        self._fh.close()

    def _claim(self) -> BinaryIO:
        """``<path>.partial``, new, made by this run and locked (``flock``) while it writes: made
        under a name of its own, locked, then linked to ``.partial`` (which fails if another run
        made one first). One left by a killed run (no lock on it) is kept aside first; one locked
        by a run still going (another output folder, the same ``--audit``) stops this run
        before any file."""
        mine = self.tmp.with_name(f"{self.tmp.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fh = mine.open("xb")
        try:
            _try_lock(fh.fileno())  # (a name no one else knows: always free)
            while True:
                try:
                    os.link(mine, self.tmp)
                    return fh
                except FileExistsError:
                    self._set_aside_if_stale()
        except BaseException:
            fh.close()
            raise
        finally:
            mine.unlink(missing_ok=True)

    def _set_aside_if_stale(self) -> None:
        """The ``.partial`` found: kept aside if no run holds it, refused if one does."""
        try:
            other = self.tmp.open("rb")
        except FileNotFoundError:  # (set aside meanwhile by another run: try again)
            return
        with other:
            if not _try_lock(other.fileno()):
                raise AuditInUse(
                    f"audit file {self.path} is being written by another dicomscrub run "
                    f"({self.tmp.name} is locked); give this run its own --audit"
                )
            try:
                same = os.path.samestat(os.fstat(other.fileno()), os.stat(self.tmp))
            except FileNotFoundError:
                return
            if same:  # (still the file this lock is on: no other run replaced it meanwhile)
                self.kept_partial = keep_interrupted(self.tmp)

    def write(self, result: FileResult) -> None:
        """One ``file`` row, then one ``private`` row per private element (columns as COLUMNS),
        handed to the kernel file by file (a killed run's rows survive it), in one write."""
        assert self._fh is not None
        row = _csv_line(
            (
                "file",
                name_text(result.root),
                name_text(result.input),
                name_text(result.output),
                result.status.value,
                "\\".join(result.methods),
                "\\".join(result.method_codes),
                str(result.private_kept),  # (as csv.writer writes them: all str, the fast line)
                str(result.private_removed),
                "",
                "",
                "",
                "",
                "",
                name_text(result.detail),
            )
        )
        head, tails = result.private_rows or _private_rows(result)
        self._unsynced += self._fh.write(
            (row + head + head.join(tails) if tails else row).encode("utf-8", NAME_BYTES)
        )
        self._fh.flush()
        if self.fsync and self._unsynced >= _WRITE_OUT and hasattr(os, "posix_fadvise"):
            # start writing the rows to disk now, without waiting (the final fsync then has
            # little left to wait for: the audit of a large run is tens of megabytes)
            self._unsynced = 0
            with contextlib.suppress(OSError):  # (a file system without it: only slower)
                os.posix_fadvise(self._fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._fh is not None
        if self.broken:  # left as .partial, as a killed run's: the next run keeps it aside
            with contextlib.suppress(OSError):
                self._fh.close()
            return
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        self.kept_earlier = keep_earlier(self.path)
        os.replace(self.tmp, self.path)
        self._fh.close()  # (the lock held until the audit has its name)


_WRITE_OUT = 8 << 20
"""Bytes of audit rows after which their writing out is started (see :meth:`AuditWriter.write`)."""
_SUFFIXES: dict[PrivateRecord, str] = {}
_TAIL_BY_ID: dict[int, str] = {}
_HELD: dict[int, PrivateRecord] = {}
"""The same by identity (most records are shared objects, remembered by the lanes from file to
file), looked up for a whole file at once. ``_HELD`` keeps each record alive while its id is a
key of ``_TAIL_BY_ID`` (both are cleared together), so that an id found is that record's."""
_LIMIT = 50_000


_QUOTED = re.compile(r'[,"\r\n]')
"""What makes csv.writer quote a field (QUOTE_MINIMAL, its default)."""


def _csv_line(fields: tuple[object, ...]) -> str:
    if len(fields) > 1 and all(type(f) is str and not _QUOTED.search(f) for f in fields):
        return ",".join(cast(tuple[str, ...], fields)) + "\n"  # (as csv.writer writes them)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    return buffer.getvalue()


def _suffix(rec: PrivateRecord) -> str:
    tail = _SUFFIXES.get(rec)
    if tail is None:
        if len(_SUFFIXES) > _LIMIT:
            _SUFFIXES.clear()
        tail = _SUFFIXES[rec] = _csv_line(
            (
                rec.tag,
                name_text(rec.creator),  # (read from the file: its controls as \xNN, one line)
                rec.block_status,
                rec.decision,
                rec.basis,
                name_text(rec.detail),
            )
        )
    if len(_TAIL_BY_ID) > _LIMIT:
        _TAIL_BY_ID.clear()
        _HELD.clear()
    _TAIL_BY_ID[id(rec)] = tail
    _HELD[id(rec)] = rec
    return tail


def _head(result: FileResult) -> str:
    """The columns of a private row up to ``tag``."""
    names = map(name_text, (result.root, result.input, result.output))
    head = _csv_line(("private", *names, result.status.value))
    return head[:-1] + ",,,,,"


def _private_rows(result: FileResult) -> tuple[str, list[str]]:
    """The ``private`` rows of one file as (head, tails): each row is the head (the columns up to
    ``tag``) then a tail, so the rows are ``head + head.join(tails)``; the same text csv.writer
    gives, built from cached parts (files of one scanner repeat the same private elements)."""
    records = result.private
    if not records:
        return "", []
    head = _head(result)
    tails = list(map(_TAIL_BY_ID.get, map(id, records)))
    if None in tails:
        tails = [tail or _suffix(rec) for tail, rec in zip(tails, records, strict=True)]
    return head, cast(list[str], tails)


def restatus(result: FileResult, status: Status, detail: str) -> FileResult:
    """``result`` given another status and detail, its private rows (packed or not) made to say
    so; a failure has none (nothing was written)."""
    result.status, result.detail = status, detail
    if status is Status.FAILED:
        result.private, result.private_rows, result.counts, result.mapping = [], None, None, []
    elif result.private_rows is not None:
        result.private_rows = (_head(result), result.private_rows[1])
    return result


_PACKED: dict[tuple[int, ...], tuple[list[str], int, list[PrivateRecord]]] = {}
"""The tails and the count of rows removed of a file's private rows, by the identities of its
records (the files of one series have the very same records, shared by the lanes' plan): each
value holds those records, so that the identities stay theirs while it is kept."""


def pack(result: FileResult) -> FileResult:
    """Format the private rows in the worker, as (head, tails) rather than as their text: a
    tail is one shared string object for all files whose element has the same row, so pickling a
    batch of results sends each once (some 180 rows of 270 bytes for every CT slice of a vendor
    were 48 KB per file through the pool's pipe, and as much again to join in the parent, which
    writes them). The counts are kept. Files with the same records share one list of tails (never
    changed: the parent only joins it), which a batch also pickles once."""
    records = result.private
    if records:
        ids = tuple(map(id, records))
        known = _PACKED.get(ids)
        if known is None:
            head, tails = _private_rows(result)
            if len(_PACKED) >= 256:
                _PACKED.clear()
            known = _PACKED[ids] = (tails, result.private_removed, records)
        else:
            head = _head(result)
        tails, removed, _ = known
        result.counts = (len(records) - removed, removed)
        result.private_rows = (head, tails)
        result.private = []
    return result
