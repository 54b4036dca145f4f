"""Helpers shared by the end-to-end tests: running the CLI, reading DICOM, walking data sets.

Only test code lives here; it never imports dicomscrub internals except the CLI entry point, so the
tests see the tool the way a user does (files in, files and an audit CSV out).
"""

from __future__ import annotations

import csv
import hashlib
import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import yaml
from click.testing import CliRunner
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomscrub.cli import cli
from dicomscrub.state import STATE_DIR

REPO = Path(__file__).resolve().parents[2]
BASIC_PROFILE = REPO / "profiles" / "basic.yaml"
EXAMPLES_INCOMING = REPO / "examples" / "incoming"
PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
TEMP_PREFIX = ".dicomscrub-tmp-"

BASIC_LABEL = "Basic Application Confidentiality Profile"
SAFE_PRIVATE_LABEL = "Retain Safe Private Option"
STANDARD_UID_ROOT = "1.2.840.10008."

# UI attributes that name a class, a syntax, a coding scheme or an organisation rather than an
# instance: the Basic Profile keeps them (PS3.15 lists none of them in Table E.1-1).
NON_INSTANCE_UID_KEYWORDS = frozenset(
    {
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "MappingResourceUID",
        "PrivateInformationCreatorUID",
        "TemplateExtensionCreatorUID",
        "TemplateExtensionOrganizationUID",
    }
)


def is_non_instance_uid_tag(elem: DataElement) -> bool:
    """Class, syntax and scheme UIDs, which the Basic Profile keeps. Implementation Class UID is
    not one of them: it names the software that wrote the input, and the new file meta replaces
    it, so it must not survive either."""
    keyword = elem.keyword or ""
    if keyword == "ImplementationClassUID":
        return False
    return keyword.endswith(("ClassUID", "SyntaxUID")) or keyword in NON_INSTANCE_UID_KEYWORDS


# ---- fixture values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Keys:
    a: Path
    a_copy: Path  # same bytes as ``a`` in another file
    b: Path


@dataclass(frozen=True)
class Tree:
    root: Path
    hashes_before: dict[str, str]


@dataclass(frozen=True)
class Synthetic(Tree):
    ct_sop: tuple[str, str, str]  # SOP Instance UIDs of ct1, ct2, ct3
    frame_of_reference: str
    study: str
    series: str
    predeid: str = "predeid/mr.dcm"


# ---- files ---------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): sha256(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and STATE_DIR not in p.relative_to(root).parts
    }


def read_input(path: Path) -> Dataset | None:
    """An input as pydicom reads it with force=True (None if pydicom cannot read it at all)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
            list(walk(ds))  # parse every element now: deferred errors surface here
        except Exception:
            return None
    return ds


def read_output(path: Path) -> Dataset:
    """An output, read strictly as a DICOM file (no force); every element parsed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        list(walk(ds))
    return ds


def read_bytes_as_dataset(data: bytes) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


# ---- data sets -----------------------------------------------------------------------------------


def walk(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, DataElement]]:
    """Every element of ``ds`` and of every sequence item inside it, with a path like
    ``(0008,1140)[0]/`` naming the item that holds it ("" at the top level)."""
    for elem in ds:
        yield prefix, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from walk(item, f"{prefix}{tag_text(int(elem.tag))}[{i}]/")


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def values(elem: DataElement) -> list[object]:
    value = elem.value
    if value is None or value == "" or value == b"":
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def uid_values(elem: DataElement) -> list[str]:
    """The UID values of a UI element (also when it was read as UN bytes)."""
    if isinstance(elem.value, bytes):
        text = elem.value.decode("latin-1")
        return [v.strip("\0 ") for v in text.split("\\") if v.strip("\0 ")]
    return [str(v).strip("\0 ") for v in values(elem) if str(v).strip("\0 ")]


def is_empty(elem: DataElement) -> bool:
    if elem.VR == "SQ":
        return len(elem.value or []) == 0
    return not values(elem)


def is_private_tag(tag: int) -> bool:
    return (tag >> 16) % 2 == 1


def count_private(ds: Dataset) -> int:
    """Private elements (creators included) in ``ds`` and in every sequence item, recursively."""
    return sum(1 for _, elem in walk(ds) if is_private_tag(int(elem.tag)))


def multi(ds: Dataset, keyword: str) -> list[str]:
    """A text attribute as a list of its values ([] if absent)."""
    if keyword not in ds:
        return []
    return [str(v) for v in values(ds[keyword])]


# ---- the Basic Profile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BasicRules:
    remove: frozenset[int]  # X
    empty: frozenset[int]  # Z
    dummy: frozenset[int]  # D
    remove_masks: tuple[tuple[int, int], ...]  # (value, care) of the X masks
    compound: dict[int, str]  # X/D, X/Z, X/Z/D, Z/D (X/Z/U* left out)

    def removes(self, tag: int) -> bool:
        return tag in self.remove or any((tag & care) == value for value, care in self.remove_masks)


def load_basic_rules() -> BasicRules:
    doc = yaml.safe_load(BASIC_PROFILE.read_text(encoding="utf-8"))
    remove: set[int] = set()
    empty: set[int] = set()
    dummy: set[int] = set()
    masks: list[tuple[int, int]] = []
    compound: dict[int, str] = {}
    for rule in doc["rules"]:
        text, action = rule.get("tag"), rule["action"]
        if text is None or text == "private":
            continue
        digits = text.strip("()").replace(",", "").upper()
        if "X" in digits:
            value = int(digits.replace("X", "0"), 16)
            care = int("".join("0" if c == "X" else "F" for c in digits), 16)
            if action == "X":
                masks.append((value, care))
            continue
        tag = int(digits, 16)
        if "/" in action and not action.endswith("*"):
            compound[tag] = action
        {"X": remove, "Z": empty, "D": dummy}.get(action, set()).add(tag)
    return BasicRules(frozenset(remove), frozenset(empty), frozenset(dummy), tuple(masks), compound)


# ---- running the CLI -----------------------------------------------------------------------------


@dataclass
class Run:
    """One ``dicomscrub run`` through click's CliRunner, with its audit parsed."""

    args: list[str]
    exit_code: int
    output_text: str
    out: Path
    audit_path: Path
    audit_text: str = ""
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def file_rows(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r["record"] == "file"]

    @property
    def by_input(self) -> dict[str, dict[str, str]]:
        return {r["input"]: r for r in self.file_rows}

    def private_rows(self, rel: str) -> list[dict[str, str]]:
        return [r for r in self.rows if r["record"] == "private" and r["input"] == rel]

    def written(self) -> dict[str, Path]:
        """input relative path -> output file, for every written input."""
        return {
            r["input"]: self.out / r["output"] for r in self.file_rows if r["status"] == "written"
        }


def run_cli(
    inputs: list[Path],
    out: Path,
    key_file: Path,
    *extra: str,
    audit: Path | None = None,
) -> Run:
    args = ["run", *map(str, inputs), "-o", str(out), "--key-file", str(key_file), *extra]
    if audit is not None:
        args += ["--audit", str(audit)]
    result = CliRunner().invoke(cli, args, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"dicomscrub {' '.join(args)} crashed") from result.exception
    audit_path = audit if audit is not None else out.parent / f"{out.name}.audit.csv"
    run = Run(args, result.exit_code, result.output, out, audit_path)
    if audit_path.exists():
        run.audit_text = audit_path.read_text(encoding="utf-8")
        run.rows = list(csv.DictReader(io.StringIO(run.audit_text, newline="")))
    return run
