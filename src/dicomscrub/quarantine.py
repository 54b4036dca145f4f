"""``--quarantine DIR``: copies of rejected inputs, set aside for a person to review.

Each copy is named by an HMAC of the input's root and path (and of its size and time, so a changed
input gets a new copy), never by its own name, which may hold a patient's name. ``DIR/index.csv``
maps each copy to the input path it came from and the reason: it identifies patients and stays on
the hospital side with the copies themselves. The quarantine folder may not be inside the output
tree, which is what gets shared.
"""

from __future__ import annotations

import contextlib
import csv
import os
from pathlib import Path

from dicomscrub.discover import NAME_BYTES
from dicomscrub.process import FileResult
from dicomscrub.writer import Collision, FileRange, write_atomic

INDEX = "index.csv"
COLUMNS = ("quarantine_file", "root", "input", "reason", "quarantined_at")


class Quarantine:
    """Written by the parent process only."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.index = folder / INDEX
        folder.mkdir(parents=True, exist_ok=True)
        self._known: set[str] = set()
        if self.index.is_file():
            with self.index.open(encoding="utf-8", newline="") as fh:
                self._known = {row.get("quarantine_file", "") for row in csv.DictReader(fh)}

    def add(self, source_path: Path, name: str, result: FileResult, when: str) -> str:
        """Copy the input aside as ``<name>.dcm``; return a note for the audit's detail."""
        target = f"{name}.dcm"
        try:
            with source_path.open("rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                with contextlib.suppress(Collision):  # set aside by an earlier run
                    write_atomic(self.folder / target, [FileRange(fh.fileno(), 0, size)])
        except OSError as exc:
            return f"quarantine copy failed: {exc.strerror or type(exc).__name__}"
        if target not in self._known:
            new = not self.index.exists()
            with self.index.open("a", encoding="utf-8", errors=NAME_BYTES, newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                if new:
                    writer.writerow(COLUMNS)
                writer.writerow((target, result.root, result.input, result.detail, when))
            self._known.add(target)
        return f"copied to quarantine as {target}"
