"""What a run leaves in ``OUT/.dicomscrub/`` so that the next run can resume: a lock and a state
database. Neither holds an identifying value.

* ``lock``: held with ``flock`` for as long as a run (and its worker processes) lives. A second run
  on the same output folder is refused; a killed run's lock goes away with its processes.
* ``state.sqlite``: one row per input already written, keyed by HMAC(key, input root and relative
  path), never the path itself (folder names often hold patient names). Each row holds an HMAC of
  the input's size, modification time and change time, a digest of every setting that changes
  the output (:func:`run_digest`), and what the audit's ``file`` row needs again (output path,
  methods, private element counts). Output paths are those of the output tree itself. A ``runs``
  table records when runs started and whether they finished, so a run after a crash knows to
  remove the temporary files the crash left.

A row is written only after its output file is linked in place, so a crash can lose a row (the
next run then finds the identical output and records it) but never claim a file that is not there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dicomscrub import __version__
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Key
from dicomscrub.writer import TEMP_PREFIX

STATE_DIR = ".dicomscrub"
SCHEMA = 1
_COMMIT_EVERY = 256
_COMMIT_SECONDS = 1.0


class LockedError(Exception):
    """Another run holds the output folder's lock."""


class StateError(Exception):
    """The state folder cannot be created or read."""


def naming_digest(key: Key, layout: str) -> str:
    """What names the outputs: the key (by fingerprint: pseudonyms and new UIDs) and the layout.
    Another one into the same output folder would write every input again beside its earlier
    output, under other names: nothing would collide, nothing would say so."""
    return hashlib.sha256(f"{key.fingerprint}\0{layout}".encode()).hexdigest()[:16]


def recorded_naming(output: Path) -> str | None:
    """The naming (see :func:`naming_digest`) an earlier run recorded in ``output``'s state, or
    None (no state, none recorded, or a state that cannot be read: the run finds out)."""
    path = output / STATE_DIR / "state.sqlite"
    if not path.is_file():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE name = 'naming'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def run_digest(
    profile: CompiledProfile,
    key: Key,
    layout: str,
    labels: tuple[str, ...],
    subjects: dict[str, str] | None = None,
) -> str:
    """A digest of everything that changes the output bytes: the content of every profile layer,
    the key (by fingerprint), the layout and its root labels, an imported subject table (by an
    HMAC, so the state holds nothing that could be checked against guessed IDs without the key),
    and the dicomscrub version."""
    layers = []
    for layer in profile.layers:
        try:
            content = layer.path.read_bytes()
        except OSError:
            content = repr(layer).encode("utf-8")
        layers.append([layer.name, hashlib.sha256(content).hexdigest()])
    doc = {
        "version": __version__,
        "layers": layers,
        "key": key.fingerprint,
        "layout": layout,
        "labels": list(labels),
        "subjects": key.digest("subjects", json.dumps(sorted((subjects or {}).items()))).hex(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=64)
def _json_list(items: tuple[str, ...]) -> str:
    """``items`` as a JSON list (the same few lists for every file of a run)."""
    return json.dumps(list(items))


def input_id(key: Key, root: Path, rel: str, *, resolved: bool = False) -> str:
    """HMAC of an input's root and relative path: names it in the state and in quarantine.
    ``resolved``: ``root`` is already resolved (not resolved again, file after file)."""
    real = root if resolved else root.resolve()
    return key.digest("input-path", f"{real}\0{rel}").hex()[:32]


def holds_outputs(output: Path) -> bool:
    """Whether ``output`` is the output folder of an earlier run that wrote something: it has
    the state folder and anything beside it (told without opening the state, which would leave
    files behind it)."""
    if not (output / STATE_DIR).is_dir():
        return False
    try:
        with os.scandir(output) as entries:
            return any(entry.name != STATE_DIR for entry in entries)
    except OSError:
        return False


def quarantine_stamp(key: Key, size: int, mtime_ns: int) -> str:
    """What tells the quarantine copies of one input apart: an HMAC of its size and modification
    time, not of its change time (a ``chmod`` makes no second copy of a file set aside)."""
    return key.digest("input-stat", f"{size}:{mtime_ns}").hex()[:8]


def input_fingerprint(key: Key, size: int, mtime_ns: int, ctime_ns: int) -> str:
    """HMAC of an input's size, modification time and status change time (a time can be a date
    of care). The change time is the one a copy cannot set: a file replaced by another of the
    same size with its modification time kept (``cp -p``, ``rsync -a``, an archive unpacked) is
    a new file to the next run, not one already done."""
    return key.digest("input-stat", f"{size}:{mtime_ns}:{ctime_ns}").hex()[:32]


@dataclass(frozen=True)
class DoneRecord:
    output: str
    methods: tuple[str, ...]
    method_codes: tuple[str, ...]
    private_kept: int
    private_removed: int


class OutputLock:
    """``flock`` on ``OUT/.dicomscrub/lock``; refuses at once if another run holds it."""

    def __init__(self, output: Path) -> None:
        self.path = output / STATE_DIR / "lock"
        self._fd = -1

    def __enter__(self) -> OutputLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StateError(f"cannot create {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise LockedError(self.message()) from None
        self._fd = fd
        return self

    def message(self) -> str:
        """What a run refused by this lock says."""
        return (
            f"output folder {self.path.parent.parent} is in use by another dicomscrub run "
            f"(lock {self.path}); wait for it to finish or choose another output folder"
        )

    def held_by_another(self) -> bool:
        """Whether another run holds the lock now (found without creating anything)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)  # (flock needs no more)
        except OSError:  # (no lock file: no run on this folder yet)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # (which unlocks it, if this took it)
        return False

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = -1


class _Damaged(Exception):
    """The state database is not a sound SQLite database."""


class StateStore:
    """The resume state of one output folder. Used by the parent process only."""

    def __init__(self, output: Path, digest: str, *, durable: bool = False) -> None:
        self.path = output / STATE_DIR / "state.sqlite"
        self.digest = digest
        self._pending = 0
        self._last_commit = time.monotonic()
        self.set_aside: Path | None = None  # where a damaged database was moved, if one was
        self.unreadable = 0  # rows that could not be read (their inputs are processed again)
        self.problem = ""  # why the state stopped being written, if it did
        try:
            self.db = self._open(durable)
        except _Damaged:
            # Only a power loss or an operating system crash damages it (and, without
            # ``--fsync``, may also have lost outputs): keep it aside, start a new one, and let
            # this run do every input again (an identical output already present is skipped).
            stamp, n = _stamp(), 1
            aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
            while aside.exists():  # (another one set aside in the same second)
                n += 1
                aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}-{n}")
            self.set_aside = aside
            try:
                for suffix in ("-wal", "-shm"):  # (if SQLite left them) kept with it
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(f"{self.path}{suffix}", f"{aside}{suffix}")
                os.replace(self.path, aside)
                self.db = self._open(durable)
            except (OSError, _Damaged) as exc:
                raise StateError(f"cannot use the state database {self.path}: {exc}") from None
        self.run_id = 0

    def _open(self, durable: bool) -> sqlite3.Connection:
        with contextlib.suppress(OSError):
            if self.path.stat().st_size == 0:  # SQLite would take it for a new database
                raise _Damaged("empty")
        db = None
        try:
            db = sqlite3.connect(self.path, isolation_level="DEFERRED")
            # A process killed at any moment leaves a sound database either way (SQLite's writes
            # are in the page cache). Flushing it to disk, which only a power loss or an operating
            # system crash needs, is worth paying for only when the outputs are flushed as well
            # (``--fsync``): otherwise the checkpoint at the end of a run waited 40 to 60 ms for
            # the journal of a file system busy with the outputs.
            db.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
            db.execute("PRAGMA journal_mode=WAL")
            if db.execute("PRAGMA quick_check").fetchone() != ("ok",):  # ~50 ms per 200,000 rows
                raise _Damaged("failed its integrity check")
            db.executescript(
                """
                CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS done (
                    input TEXT PRIMARY KEY,
                    fingerprint TEXT NOT NULL,
                    digest TEXT NOT NULL,
                    output TEXT NOT NULL,
                    methods TEXT NOT NULL,
                    method_codes TEXT NOT NULL,
                    private_kept INTEGER NOT NULL,
                    private_removed INTEGER NOT NULL
                );
                CREATE TABLE IF NOT EXISTS runs (
                    id INTEGER PRIMARY KEY,
                    started TEXT NOT NULL,
                    finished TEXT,
                    status TEXT NOT NULL
                );
                """
            )
            db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema', ?)", (str(SCHEMA),)
            )
            db.commit()
            db.text_factory = bytes  # (decoded here: a damaged text is a row not done)
            if not _our_schema(db):
                raise _Damaged("not the tables of this version of dicomscrub")
            return db
        except (sqlite3.Error, _Damaged) as exc:
            if db is not None:
                db.close()
            # "file is not a database" and "database disk image is malformed" are plain
            # DatabaseErrors; a locked, unreadable or read-only file is an OperationalError.
            if isinstance(exc, _Damaged) or type(exc) is sqlite3.DatabaseError:
                raise _Damaged(str(exc)) from None
            raise StateError(f"cannot use the state database {self.path}: {exc}") from None

    # ---- runs --------------------------------------------------------------------------------

    def previous_run_clean(self) -> bool:
        """True if the last run on this folder finished (did not crash or get killed)."""
        try:
            row = self.db.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return False
        return row is not None and row[0] == b"finished"

    def has_other_settings(self) -> bool:
        """True if files here were written with other settings (profile, key, version...)."""
        try:
            row = self.db.execute(
                "SELECT 1 FROM done WHERE digest != ? LIMIT 1", (self.digest,)
            ).fetchone()
        except sqlite3.Error:
            return False
        return row is not None

    def begin_run(self, naming: str = "") -> None:
        """Record a run's start, and ``naming`` (see :func:`naming_digest`) if none is yet."""
        if naming:
            self._write("INSERT OR IGNORE INTO meta (name, value) VALUES ('naming', ?)", (naming,))
        cur = self._write("INSERT INTO runs (started, status) VALUES (?, 'running')", (_now(),))
        self.run_id = int(cur.lastrowid or 0) if cur is not None else 0
        self.commit()

    def end_run(self, status: str) -> None:
        self._write(
            "UPDATE runs SET finished = ?, status = ? WHERE id = ?", (_now(), status, self.run_id)
        )
        self.commit()

    # ---- files -------------------------------------------------------------------------------

    def has_done(self) -> bool:
        """True if any input was recorded done (by this or an earlier run)."""
        try:
            return self.db.execute("SELECT 1 FROM done LIMIT 1").fetchone() is not None
        except sqlite3.Error:
            return True  # (then each input is looked up, and found or not)

    def lookup(self, input_key: str, fingerprint: str) -> DoneRecord | None:
        """The record of the input, if it was done with these settings; None also when its row
        cannot be read (damaged by a power loss: the input is processed again)."""
        try:
            row = self.db.execute(
                "SELECT output, methods, method_codes, private_kept, private_removed FROM done "
                "WHERE input = ? AND fingerprint = ? AND digest = ?",
                (input_key, fingerprint, self.digest),
            ).fetchone()
            if row is None:
                return None
            output = bytes(row[0]).decode("utf-8", "surrogateescape")
            if not _inside_output(output):
                raise ValueError("not a path inside the output folder")
            return DoneRecord(
                output,
                _texts(row[1]),
                _texts(row[2]),
                int(row[3]),
                int(row[4]),
            )
        except (sqlite3.Error, ValueError, TypeError):  # (never shown: a cell may name a path)
            self.unreadable += 1
            return None

    def record(self, input_key: str, fingerprint: str, rec: DoneRecord) -> None:
        done = self._write(
            "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                input_key,
                fingerprint,
                self.digest,
                _stored_name(rec.output),
                _json_list(rec.methods),
                _json_list(rec.method_codes),
                rec.private_kept,
                rec.private_removed,
            ),
        )
        if done is None:
            return
        self._pending += 1
        now = time.monotonic()
        if self._pending >= _COMMIT_EVERY or now - self._last_commit >= _COMMIT_SECONDS:
            self.commit()

    def commit(self) -> None:
        if not self.problem:
            try:
                self.db.commit()
            except sqlite3.Error as exc:
                self._cannot_write(exc)
        self._pending = 0
        self._last_commit = time.monotonic()

    def _write(self, sql: str, params: tuple[object, ...]) -> sqlite3.Cursor | None:
        """``sql`` executed, or None once writing has failed (then nothing more is written)."""
        if self.problem:
            return None
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            self._cannot_write(exc)
            return None

    def _cannot_write(self, exc: sqlite3.Error) -> None:
        """Writing the state failed (a full disk): the run goes on without recording more; the
        next run checks again the inputs not recorded (identical outputs are found)."""
        self.problem = (
            f"the resume state could not be updated ({exc}); "
            "the next run checks again the inputs this run did not record"
        )
        with contextlib.suppress(sqlite3.Error):
            self.db.rollback()

    def problems(self) -> str:
        """What went wrong with the state in this run, for the report ("" if nothing)."""
        said = []
        if self.unreadable:
            said.append(
                f"{self.unreadable} records of the resume state could not be read (damaged?); "
                "their inputs were processed again"
            )
        if self.problem:
            said.append(self.problem)
        return "; ".join(said)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.commit()
        with contextlib.suppress(sqlite3.Error):
            self.db.close()


def sweep_temp_files(output: Path) -> int:
    """Remove temporary files left under ``output`` by a killed run; returns how many."""
    removed = 0
    for dirpath, dirnames, filenames in os.walk(output):
        if dirpath == str(output):
            dirnames[:] = [d for d in dirnames if d != STATE_DIR]
        for name in filenames:
            if name.startswith(TEMP_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(dirpath, name))
                    removed += 1
    return removed


_TABLES = {
    "meta": ["name", "value"],
    "done": [
        "input",
        "fingerprint",
        "digest",
        "output",
        "methods",
        "method_codes",
        "private_kept",
        "private_removed",
    ],
    "runs": ["id", "started", "finished", "status"],
}


def _our_schema(db: sqlite3.Connection) -> bool:
    """The database holds this version's tables (SCHEMA), not another program's or version's."""
    for table, columns in _TABLES.items():
        if [row[1] for row in db.execute(f"PRAGMA table_info({table})")] != [
            c.encode("ascii") for c in columns
        ]:
            return False
    row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    return row is not None and row[0] == str(SCHEMA).encode("ascii")


def _stored_name(name: str) -> str | bytes:
    """A path as the state stores it: text, but a mirrored name that is not UTF-8 as its bytes
    (a BLOB; earlier versions, which read text only, never wrote such a name)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape")
    return name


def _inside_output(rel: str) -> bool:
    """``rel`` is a relative path that stays inside the folder it is relative to."""
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and ".." not in parts and "" not in parts


def _texts(cell: object) -> tuple[str, ...]:
    """A JSON list of texts, as :func:`_json_list` stores it."""
    items = json.loads(cell)  # type: ignore[arg-type]
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError("not a list of texts")
    return tuple(items)


def _stamp() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
