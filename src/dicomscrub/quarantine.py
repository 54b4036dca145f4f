"""``--quarantine DIR``: copies of rejected inputs, set aside for a person to review.

Each copy is named by an HMAC of the input's root and path (and of its size and time, so a changed
input gets a new copy), never by its own name, which may hold a patient's name. ``DIR/index.csv``
maps each copy to the input path it came from and the reason: it identifies patients and stays on
the hospital side with the copies themselves. The quarantine folder may not be inside the output
tree, which is what gets shared. The copies and the index are made mode 0600, the folder 0700 when
a run makes it (as the crosswalk, they hold identity); the mode of what is there already is kept
(a folder shared with the reviewers' group, say).
"""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path

from dicomscrub.discover import NAME_BYTES, name_text
from dicomscrub.process import FileResult
from dicomscrub.writer import Collision, FileRange, write_atomic

INDEX = "index.csv"
COLUMNS = ("quarantine_file", "root", "input", "reason", "quarantined_at")
PRIVATE = 0o600
"""The mode of the copies and the index a run makes: full identity, for the run's user only."""


class Quarantine:
    """Written by the parent process only.

    Nothing here raises for a problem of the file system: the folder and its index are checked
    when the run is planned (see :func:`dicomscrub.runner.plan_run`), but a disk can fill or a
    folder be changed while a run goes on, and one input that cannot be set aside must not stop
    the batch or cost the audit its rows: :meth:`add` says so instead (and the run exits 1)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = folder / INDEX
        self._known: set[str] | None = None  # the copies the index lists (read at the first add)

    def _prepare(self) -> set[str]:
        """The folder made, and the names its index lists (OSError: tried again next time)."""
        if self._known is None:
            # (0700 for the folder itself; those made above it, as any folder: they may be
            # meant for others, as /review is)
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            known: set[str] = set()
            if self.index.is_file():
                # (an index damaged by hand still lists what it can: names are ASCII)
                with (
                    self.index.open(encoding="utf-8", errors="replace", newline="") as fh,
                    contextlib.suppress(csv.Error),
                ):
                    known.update(row.get("quarantine_file") or "" for row in csv.DictReader(fh))
            self._known = known
        return self._known

    def add(self, source_path: Path, name: str, result: FileResult, when: str) -> tuple[bool, str]:
        """Copy the input aside as ``<name>.dcm`` and list it in the index; return whether it was
        set aside (copied and listed: what a reviewer finds), and a note for the audit's detail."""
        target = f"{name}.dcm"
        try:
            known = self._prepare()
            with source_path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                with contextlib.suppress(Collision):  # set aside by an earlier run
                    write_atomic(
                        self.folder / target, [FileRange(fh.fileno(), 0, size)], mode=PRIVATE
                    )
        except OSError as exc:
            return False, f"quarantine copy failed: {_why(exc)}"
        if target not in known:
            try:
                new = not self.index.exists()
                fd = os.open(self.index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
                with open(fd, "a", encoding="utf-8", errors=NAME_BYTES, newline="") as fh:
                    writer = csv.writer(fh, lineterminator="\n")
                    if new:
                        writer.writerow(COLUMNS)
                    root, name = name_text(result.root), name_text(result.input)
                    writer.writerow((target, root, name, result.detail, when))
            except OSError as exc:
                # the copy stays (the next run finds it there and lists it); the audit row names
                # it, but the index, where a reviewer looks, does not
                return False, (
                    f"copied to quarantine as {target}, but not listed in its index: {_why(exc)}"
                )
            known.add(target)
        return True, f"copied to quarantine as {target}"


def _why(exc: OSError) -> str:
    """The system's reason, without the path (an input's path may hold a patient's name)."""
    return exc.strerror or type(exc).__name__
