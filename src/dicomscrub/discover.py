"""Walk the input trees in sorted order and recognise DICOM by content.

Symbolic links are followed only when they lead to a place inside the same input tree; anything else
is reported, never silently skipped.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

NAME_BYTES = "dicomscrub-name-bytes"
"""The error handler under which text that holds file names is encoded (the audit, the quarantine
index): a byte of a name that is not UTF-8, which Python reads as a lone surrogate (U+DC80 to
U+DCFF), is written as ``\\xNN``, as :func:`name_text` shows it."""


def _name_bytes(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        bad = exc.object[exc.start : exc.end]
        if all(0xDC80 <= ord(c) <= 0xDCFF for c in bad):
            return "".join(f"\\x{ord(c) - 0xDC00:02x}" for c in bad), exc.end
    raise exc


codecs.register_error(NAME_BYTES, _name_bytes)


def name_text(name: str) -> str:
    """``name`` (a path as Python reads it) as text that can be written anywhere on one line: the
    bytes of a name that are not UTF-8 as ``\\xNN``, and the characters that do not print
    (controls such as a newline, line separators) as ``\\xNN`` or ``\\uNNNN``."""
    if name.isprintable():
        return name
    text = name.encode("utf-8", NAME_BYTES).decode("utf-8")
    return "".join(c if c.isprintable() else _escaped(c) for c in text)


def json_text(doc: object) -> str:
    """``doc`` as indented JSON for a report on standard output: text as it is (JSON escapes its
    controls), a byte of a name that is not UTF-8 as JSON's ``\\udcNN``, as ``--summary-json``
    writes it (the lone surrogate Python reads it as cannot be written as UTF-8)."""
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _escaped(c: str) -> str:
    code = ord(c)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )


@dataclass(frozen=True)
class Source:
    """One file found under an input root."""

    path: Path  # where to read it
    root_index: int
    root: Path
    rel: str  # POSIX path relative to its root
    skip_reason: str | None = None
    unreadable: bool = False  # the reason is an error (a folder that cannot be listed): failed

    @property
    def sort_key(self) -> tuple[int, str]:
        return (self.root_index, self.rel)


class Kind(enum.Enum):
    PART10 = "part10"  # 128-byte preamble + DICM
    BARE_META = "bare-meta"  # DICM at offset 0, no preamble
    RAW = "raw"  # a data set with no preamble and no file meta
    NOT_DICOM = "not-dicom"


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def discover(inputs: list[Path], output: Path | None = None) -> list[Source]:
    """Every file under ``inputs``, sorted by (input index, relative path). ``output``: the
    output folder, never walked where an input reaches it under another name (a bind mount of it,
    or of a folder above it: ``run`` refuses an output inside an input by name)."""
    sources: list[Source] = []
    avoid: tuple[int, int] | None = None
    if output is not None:
        with contextlib.suppress(OSError):
            st = output.stat()
            avoid = (st.st_dev, st.st_ino)
    for index, given in enumerate(inputs):
        if given.is_file():
            sources.append(Source(given, index, given.parent, given.name))
            continue
        if given.exists() and not given.is_dir():  # (a FIFO, a device)
            sources.append(Source(given, index, given.parent, given.name, "not a regular file"))
            continue
        root = given
        real_root = root.resolve()
        visited: set[Path] = {real_root}
        stack: list[tuple[Path, str]] = [(root, "")]
        found: list[Source] = []
        while stack:
            directory, rel_dir = stack.pop()
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError as exc:
                found.append(
                    Source(
                        directory,
                        index,
                        root,
                        rel_dir or ".",
                        f"cannot list folder: {exc.strerror}",
                        unreadable=True,
                    )
                )
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                path = Path(entry.path)
                reason = _own_file(entry.name, entry.is_dir(follow_symlinks=False))
                if reason:
                    found.append(Source(path, index, root, rel, reason))
                    continue
                if entry.is_symlink():
                    try:
                        target = path.resolve()
                    except (RuntimeError, OSError):  # (Python 3.11: RuntimeError for a loop)
                        found.append(Source(path, index, root, rel, _LINK_LOOP))
                        continue
                    if not _inside(target, real_root):
                        found.append(
                            Source(
                                path,
                                index,
                                root,
                                rel,
                                LINK_OUTSIDE,
                            )
                        )
                        continue
                    if target.is_dir():
                        if target not in visited:
                            visited.add(target)
                            stack.append((path, rel))
                        else:
                            found.append(Source(path, index, root, rel, _WALKED))
                        continue
                    if not target.exists():
                        found.append(Source(path, index, root, rel, "broken symbolic link"))
                        continue
                if entry.is_dir(follow_symlinks=False):
                    if avoid is not None and _same(entry, avoid):
                        found.append(Source(path, index, root, rel, _OUTPUT))
                        continue
                    real = path.resolve()
                    if real not in visited:
                        visited.add(real)
                        stack.append((path, rel))
                    else:  # (walked through a link found before it)
                        found.append(Source(path, index, root, rel, _WALKED_BY_LINK))
                elif entry.is_file():
                    found.append(Source(path, index, root, rel))
                else:
                    found.append(Source(path, index, root, rel, "not a regular file"))
        sources.extend(sorted(found, key=lambda s: s.rel))
    return sorted(sources, key=lambda s: s.sort_key)


def _same(entry: os.DirEntry[str], identity: tuple[int, int]) -> bool:
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == identity


_OUTPUT = "the output folder, reached under another name (a bind mount); not walked"
LINK_OUTSIDE = "symbolic link leads outside the input tree; not followed"
_LINK_LOOP = "symbolic link that leads back to itself (a loop of links); not followed"
_WALKED = "symbolic link to a folder already walked (a loop, or a second way in); not followed"
_WALKED_BY_LINK = "folder already walked through a symbolic link; not walked again"
ALREADY_WALKED = frozenset({_WALKED, _WALKED_BY_LINK})
"""The reasons given to a second way into a folder: every file in it is listed by the first."""


def _own_file(name: str, is_dir: bool) -> str | None:
    """dicomscrub's own state folder and temporary files, found in an input that is (or holds) an
    earlier output tree: reported, never processed."""
    if is_dir and name == ".dicomscrub":
        return "dicomscrub state folder of an output tree; not processed"
    if not is_dir and name.startswith(".dicomscrub-tmp-"):
        return "temporary file of an interrupted dicomscrub run; not processed"
    return None


_EXPLICIT_VRS = {
    b"AE",
    b"AS",
    b"AT",
    b"CS",
    b"DA",
    b"DS",
    b"DT",
    b"FL",
    b"FD",
    b"IS",
    b"LO",
    b"LT",
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"PN",
    b"SH",
    b"SL",
    b"SQ",
    b"SS",
    b"ST",
    b"SV",
    b"TM",
    b"UC",
    b"UI",
    b"UL",
    b"UN",
    b"UR",
    b"US",
    b"UT",
    b"UV",
}


def _looks_like_dataset(head: bytes) -> bool:
    """A data set without preamble: first element in group 0002, 0008 (or low groups) with a
    plausible explicit VR or implicit length."""
    if len(head) < 8:
        return False
    for endian in ("<", ">"):
        group, element = struct.unpack(endian + "HH", head[:4])
        if group not in (0x0002, 0x0004, 0x0008) and not (
            0x0008 <= group <= 0x0028 and group % 2 == 0
        ):
            continue
        if element > 0x0200:
            continue
        if head[4:6] in _EXPLICIT_VRS:
            return True
        (length,) = struct.unpack(endian + "I", head[4:8])
        if length < 0x10000 or length == 0xFFFFFFFF:
            return True
    return False


def sniff(head: bytes) -> Kind:
    """What kind of file starts with ``head`` (at least 132 bytes when available)?"""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return Kind.PART10
    if head[:4] == b"DICM" and (
        head[4:6] == b"\x02\x00" if len(head) >= 12 else b"\x02\x00".startswith(head[4:6])
    ):
        return Kind.BARE_META  # (cut short, when shorter: damaged, not "not DICOM")
    if _looks_like_dataset(head):
        return Kind.RAW
    return Kind.NOT_DICOM
