"""Output paths and atomic, no-clobber writes.

A file is written to a hidden temporary name in its final folder, flushed, and then linked to
its final name; the link fails if the name exists, so an existing file is never overwritten and
a partial file is never visible under a final name.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import re
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from dicomscrub.discover import Source
from dicomscrub.pipeline import LaneResult, text_at
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
    fsync: bool = False  # flush each file to disk before linking it (power-loss safety)

    def relative_path(
        self,
        ds: Dataset,
        source: Source,
        pseudo: Pseudonymizer,
        lane: LaneResult | None = None,
    ) -> str:
        """``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` from the
        de-identified values (``lane``: with those the lanes decided unparsed, not in ``ds``),
        or the input's relative path under ``--layout mirror``."""
        if self.layout is Layout.MIRROR:
            label = self.root_labels[source.root_index] if len(self.root_labels) > 1 else ""
            return f"{label}/{source.rel}" if label else source.rel
        value = lane.value if lane is not None else text_at
        sop = value(ds, 0x00080018) or pseudo.uid(f"input-path:{source.root_index}:{source.rel}")
        return "/".join(
            (
                _component(value(ds, 0x00100020), "NO_PATIENT_ID"),
                _component(value(ds, 0x0020000D), "NO_STUDY_UID"),
                _component(value(ds, 0x0020000E), "NO_SERIES_UID"),
                _component(sop, "NO_SOP_UID") + ".dcm",
            )
        )


def mirror_labels(roots: list[Path]) -> tuple[str, ...]:
    """Distinct folder names for several input roots (``a``, ``b``, ``a-2`` ...); none ("") for
    an input that is a file: it goes to the top of the output under its own name, not into a
    folder of that name, unless an input before it took that name (a file of the same name, a
    folder so labelled): then into a folder named after its own (``c/single.dcm``)."""
    labels: list[str] = []
    top: set[str] = set()  # the names of the files at the top
    for root in roots:
        if root.is_file():
            if root.name not in top and root.name not in labels:
                top.add(root.name)
                labels.append("")
                continue
            base = _component(root.resolve().parent.name, "input")
        else:
            base = _component(root.resolve().name, "input")
        label, n = base, 2
        while label in labels or label in top:
            label, n = f"{base}-{n}", n + 1
        labels.append(label)
    return tuple(labels)


@dataclass(frozen=True)
class FileRange:
    """``count`` bytes of the open file ``fd`` from ``offset``: copied by range, never loaded."""

    fd: int
    offset: int
    count: int


Part = bytes | memoryview | FileRange
_CHUNK = 1 << 20


class InputChanged(OSError):
    """The input file got shorter while it was being copied."""


_folders: set[Path] = set()  # output folders this process made or found (not made again)
_unnamed = hasattr(os, "O_TMPFILE")  # False once the file system or kernel refused it
_proc: int | None = None  # /proc, to link an unnamed file by its descriptor


def _link_unnamed(fd: int, target: Path) -> None:
    """linkat(2) of the unnamed file open as ``fd`` to ``target`` (through /proc/self/fd,
    following the link: os.link follows it only relative to a directory descriptor)."""
    global _proc
    if _proc is None:
        _proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    os.link(f"self/fd/{fd}", target, src_dir_fd=_proc, follow_symlinks=True)


def _folder(path: Path, *, again: bool = False) -> None:
    if again:
        _folders.discard(path)
    if path not in _folders:
        path.mkdir(parents=True, exist_ok=True)
        if len(_folders) > 10_000:
            _folders.clear()
        _folders.add(path)


def write_atomic(
    target: Path, data: bytes | memoryview | list[Part], *, fsync: bool = True, mode: int = 0o644
) -> None:
    """Write ``data`` (bytes, or parts: bytes and input ranges) to ``target`` atomically, with
    ``mode`` (less what the umask takes away).

    The parts go to an unnamed temporary file in the target's folder (``O_TMPFILE``; a hidden
    named one where the file system cannot), which is then hard-linked to ``target``; the link
    fails if ``target`` exists, so nothing is ever overwritten (:class:`Collision`) and no
    partial file is ever visible under a final name, whenever the process is killed. With
    ``fsync`` the file is also flushed to disk before it is linked, so that the same holds after
    a power loss or an operating system crash.
    """
    global _unnamed
    parts: list[Part] = data if isinstance(data, list) else [data]
    _folder(target.parent)
    if _unnamed:
        try:
            fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode)
        except FileNotFoundError:  # the folder went away: make it again
            _folder(target.parent, again=True)
            fd = os.open(target.parent, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode)
        except OSError as exc:
            if exc.errno not in _NO_UNNAMED:
                raise
            _unnamed = False
        else:
            try:
                _write_parts(fd, parts, fsync)
                _link_unnamed(fd, target)
                return
            except FileExistsError:
                raise Collision(same_content(target, parts)) from None
            except OSError as exc:
                if exc.errno not in _NO_UNNAMED:
                    raise
                _unnamed = False  # e.g. no /proc: write it again the other way
            finally:
                os.close(fd)
    _write_named(target, parts, fsync, mode)


_NO_UNNAMED = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV, errno.EPERM}


def _write_parts(fd: int, parts: list[Part], fsync: bool) -> None:
    pending: list[bytes | memoryview] = []  # consecutive bytes, written in one call
    for part in parts:
        if isinstance(part, FileRange):
            if pending:
                _write_all(fd, pending[0] if len(pending) == 1 else b"".join(pending))
                pending = []
            copy_range(part, fd)
        else:
            pending.append(part)
    if pending:
        _write_all(fd, pending[0] if len(pending) == 1 else b"".join(pending))
    if fsync:
        os.fsync(fd)


def _write_named(target: Path, parts: list[Part], fsync: bool, mode: int) -> None:
    """write_atomic through a hidden named temporary file."""
    tmp = target.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        except FileNotFoundError:  # the folder went away: make it again
            _folder(target.parent, again=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            _write_parts(fd, parts, fsync)
        finally:
            os.close(fd)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise Collision(same_content(target, parts)) from None
        except OSError:  # a file system without hard links: check, then rename
            if target.exists():
                raise Collision(same_content(target, parts)) from None
            os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def copy_range(part: FileRange, out_fd: int) -> None:
    """Append ``part`` to ``out_fd`` without bringing it into Python where the kernel can copy it:
    ``os.copy_file_range`` (within a file system), else ``os.sendfile`` (across file systems,
    where copy_file_range refuses), else reads and writes through one buffer reused from file to
    file."""
    ways = [how for how in _IN_KERNEL if how and hasattr(os, how)]  # those not refused yet
    done = 0
    while done < part.count:
        want, at = part.count - done, part.offset + done
        n = -1
        while n < 0 and ways:
            try:
                if ways[0] == "copy_file_range":
                    n = os.copy_file_range(part.fd, out_fd, want, at)
                else:
                    n = os.sendfile(out_fd, part.fd, at, want)
            except OSError as exc:
                if exc.errno not in _NOT_IN_KERNEL:
                    raise
                del ways[0]
        if n < 0:
            n = _copy_buffered(part.fd, out_fd, at, want)
        if n == 0:
            raise InputChanged(errno.EIO, "input file got shorter while it was being copied")
        done += n


_IN_KERNEL = (
    "copy_file_range",
    # (elsewhere sendfile writes to sockets only)
    "sendfile" if hasattr(os, "sendfile") and sys.platform.startswith("linux") else "",
)
_NOT_IN_KERNEL = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EINVAL,
    errno.EOPNOTSUPP,
    errno.EPERM,
    errno.ENOTSOCK,
}
"""What copy_file_range or sendfile answer when they cannot copy between these two files."""
_buffer: bytearray | None = None


def _copy_buffered(in_fd: int, out_fd: int, at: int, want: int) -> int:
    """Up to a chunk of ``want`` bytes from ``at`` in ``in_fd``, appended to ``out_fd``; how many
    (0 at the end of the input)."""
    global _buffer
    if not hasattr(os, "preadv"):
        chunk = os.pread(in_fd, min(_CHUNK, want), at)
        _write_all(out_fd, chunk)
        return len(chunk)
    if _buffer is None:
        _buffer = bytearray(_CHUNK)
    view = memoryview(_buffer)[: min(_CHUNK, want)]
    n = os.preadv(in_fd, [view], at)
    _write_all(out_fd, view[:n])
    return n


def _chunks(parts: list[Part]) -> Iterator[bytes]:
    for part in parts:
        if isinstance(part, FileRange):
            done = 0
            while done < part.count:
                chunk = os.pread(part.fd, min(_CHUNK, part.count - done), part.offset + done)
                if not chunk:
                    return
                done += len(chunk)
                yield chunk
        else:
            yield bytes(part)


def probe(target: Path, parts: list[Part]) -> None:
    """What :func:`write_atomic` would do, without writing (``run --dry-run``): raise
    :class:`Collision` if ``target`` exists."""
    if target.exists() or target.is_symlink():
        raise Collision(same_content(target, parts))


def same_content(path: Path, parts: list[Part]) -> bool:
    """True if the file at ``path`` holds exactly the bytes of ``parts`` (compared in chunks)."""
    try:
        with path.open("rb") as fh:
            for chunk in _chunks(parts):
                if fh.read(len(chunk)) != chunk:
                    return False
            return fh.read(1) == b""
    except OSError:
        return False
