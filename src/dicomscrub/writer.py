"""Output paths and atomic, no-clobber writes.

A file is written to a hidden temporary name in its final folder, flushed, and then linked to
its final name; the link fails if the name exists, so an existing file is never overwritten and
a partial file is never visible under a final name.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from dicomscrub.discover import Source
from dicomscrub.pseudonym import Pseudonymizer

TEMP_PREFIX = ".dicomscrub-tmp-"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Layout(str, enum.Enum):
    HIERARCHY = "hierarchy"
    MIRROR = "mirror"


class Collision(Exception):
    def __init__(self, identical: bool) -> None:
        super().__init__("output exists")
        self.identical = identical


def _component(value: object, fallback: str) -> str:
    text = _UNSAFE.sub("_", str(value or "").strip()).strip("._")
    return text[:64] or fallback


@dataclass(frozen=True)
class OutputPlan:
    root: Path
    layout: Layout
    root_labels: tuple[str, ...]  # one per input root, for the mirror layout with several roots

    def relative_path(self, ds: Dataset, source: Source, pseudo: Pseudonymizer) -> str:
        """``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` from the
        de-identified values, or the input's relative path under ``--layout mirror``."""
        if self.layout is Layout.MIRROR:
            label = self.root_labels[source.root_index] if len(self.root_labels) > 1 else ""
            return f"{label}/{source.rel}" if label else source.rel
        sop = ds.get("SOPInstanceUID") or pseudo.uid(f"input-path:{source.root_index}:{source.rel}")
        return "/".join(
            (
                _component(ds.get("PatientID"), "NO_PATIENT_ID"),
                _component(ds.get("StudyInstanceUID"), "NO_STUDY_UID"),
                _component(ds.get("SeriesInstanceUID"), "NO_SERIES_UID"),
                _component(sop, "NO_SOP_UID") + ".dcm",
            )
        )


def mirror_labels(roots: list[Path]) -> tuple[str, ...]:
    """Distinct folder names for several input roots (``a``, ``b``, ``a-2`` ...)."""
    labels: list[str] = []
    for root in roots:
        base = _component(root.resolve().name, "input")
        label, n = base, 2
        while label in labels:
            label, n = f"{base}-{n}", n + 1
        labels.append(label)
    return tuple(labels)


def write_atomic(target: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``target`` atomically; raise :class:`Collision` if ``target`` exists."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise Collision(_same_content(target, data)) from None
        except OSError:  # a file system without hard links: check, then rename
            if target.exists():
                raise Collision(_same_content(target, data)) from None
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def probe(target: Path, data: bytes | memoryview) -> None:
    """What :func:`write_atomic` would do, without writing (``run --dry-run``): raise
    :class:`Collision` if ``target`` exists."""
    if target.exists() or target.is_symlink():
        raise Collision(_same_content(target, data))


def _same_content(path: Path, data: bytes | memoryview) -> bool:
    try:
        return path.read_bytes() == bytes(data)
    except OSError:
        return False
