#!/usr/bin/env python3
"""Generate the built-in profiles and the dictionary additions from the PS3.15 CSV tables.

Reads, from the standard folder (default ``<repo>/../shared/standard``):

* ``ps3.15-table-e1-1.csv``: Table E.1-1, one row per attribute, one column per profile/option;
* ``cid7050-deidentification-methods.csv``: CID 7050 codes and the Table E.1-1 column of each;
* ``ps3.15-table-e3.10-1-safe-private.csv``: Table E.3.10-1, the safe private attributes.

Writes ``profiles/basic.yaml``, one ``profiles/<option>.yaml`` per option column of Table E.1-1, and
``src/dicomscrub/data/dictionary-additions.csv`` (the non-pattern attributes of Table E.1-1 that
pydicom's dictionary does not know), then ``src/dicomscrub/data/builtin-profiles.json`` (the
profiles as dicomscrub's loader reads them, for a faster start: ``dicomscrub.profile.builtin``).
The output depends only on the CSVs, on the installed pydicom dictionary and on dicomscrub's
loader, so running the script twice gives the same bytes.

Usage::

    python scripts/generate_profiles.py [--standard DIR]          # (re)write the files
    python scripts/generate_profiles.py [--standard DIR] --check  # exit 1 if a file would change
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STANDARD = REPO.parent / "shared" / "standard"
PROFILES_DIR = REPO / "profiles"
ADDITIONS_PATH = REPO / "src" / "dicomscrub" / "data" / "dictionary-additions.csv"
LOADED_PATH = REPO / "src" / "dicomscrub" / "data" / "builtin-profiles.json"

E11_CSV = "ps3.15-table-e1-1.csv"
CID_CSV = "cid7050-deidentification-methods.csv"
SAFE_CSV = "ps3.15-table-e3.10-1-safe-private.csv"

# Editions, as documented in the standard folder's README.md.
E11_EDITION = "2025b"
SAFE_EDITION = 'NEMA "current" as scraped around Aug 2025 (set unchanged since at least mid-2022)'
CID_EDITION = "unchanged from version 20170914 through the 2026b terminology"

BASIC_COLUMN = "Basic Profile"
# (file name without .yaml, Table E.1-1 column), in the order of the table's columns.
OPTIONS: tuple[tuple[str, str], ...] = (
    ("retain-safe-private", "Retain Safe Private Option"),
    ("retain-uids", "Retain UIDs Option"),
    ("retain-device-identity", "Retain Device Identity Option"),
    ("retain-institution-identity", "Retain Institution Identity Option"),
    ("retain-patient-characteristics", "Retain Patient Characteristics Option"),
    ("retain-long-full-dates", "Retain Long. Full Dates Option"),
    ("retain-long-modified-dates", "Retain Long. Modified Dates Option"),
    ("clean-descriptors", "Clean Descriptors Option"),
    ("clean-structured-content", "Clean Structured Content Option"),
    ("clean-graphics", "Clean Graphics Option"),
)
# Settings that an option adds on top of the profile it is applied to.
OPTION_SETTINGS: Mapping[str, Mapping[str, str]] = {
    # Retaining UIDs means that instance UIDs that no rule lists are kept too.
    "retain-uids": {"unlisted_uids": "K"},
    # PS3.15 E.1.1 suggests handling every DA, DT and TM value by VR, not only the listed ones:
    # the date options decide what happens to the unlisted ones as they do for the listed ones.
    "retain-long-full-dates": {"unlisted_dates": "K"},
    "retain-long-modified-dates": {"unlisted_dates": "C"},
}
# A person's name in an attribute the table does not list (a reviewer, an evaluator, an author)
# names someone as the listed ones do: emptied, as PS3.15's advice to handle values by VR suggests.
BASIC_SETTINGS: Mapping[str, str] = {
    "default": "K",
    "unlisted_uids": "U",
    "unlisted_dates": "X/Z",
    "unlisted_names": "X/Z",
}

ACTION_CODES = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
PRIVATE_ROW = "(gggg,eeee) where gggg is odd"
MASK_ROWS = frozenset({"(50xx,xxxx)", "(60xx,3000)", "(60xx,4000)"})
PARTIAL_COMMENT = "after 2025b, PARTIAL"
BEYOND_TABLE = (
    ("(0010,0033)", "X", "Patient's Birth Date in Alternative Calendar"),
    ("(0010,0034)", "X", "Patient's Death Date in Alternative Calendar"),
)
"""Rules ``basic`` adds to Table E.1-1, which does not list these attributes: a date of birth or
death written in another calendar (LO, so no setting for unlisted dates reaches it) identifies as
Patient's Birth Date (Z) does. Removed under every option (the table's birth date is never kept)."""
BEYOND_COMMENT = "not in Table E.1-1 2025b: added by dicomscrub"
MAX_LO = 64  # the method label goes into (0012,0063), VR LO

E11_COLUMNS = (
    "tag",
    "keyword",
    "attribute_name",
    "retired",
    "vr",
    "vm",
    BASIC_COLUMN,
    *(column for _, column in OPTIONS),
    "is_pattern",
    "edition",
    "verification",
)
CID_COLUMNS = ("code_value", "code_meaning", "ps3.15_section", "table_e1_1_column")
SAFE_COLUMNS = (
    "data_element",
    "group",
    "element_in_block",
    "private_creator",
    "vr",
    "vm",
    "meaning",
)
ADDITIONS_COLUMNS = ("tag", "keyword", "vr", "vm", "name", "retired")

_TAG_RE = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\)$")
_HEX4_RE = re.compile(r"^[0-9A-Fa-f]{4}$")
_HEX2_RE = re.compile(r"^[0-9A-Fa-f]{2}$")
# Words that some YAML loader (YAML 1.1 or 1.2) reads as a bool or null when left unquoted.
_YAML_SPECIAL_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
_PLAIN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_/-]*$")
_YAML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\0": "\\0",
    "\a": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
    "\x85": "\\N",
    "\xa0": "\\_",
    "\u2028": "\\L",
    "\u2029": "\\P",
}


class GenerationError(Exception):
    """The input tables are not what the generator expects."""


# --- YAML text -----------------------------------------------------------------------------------


def quoted(value: str) -> str:
    """Return ``value`` as a YAML double-quoted scalar, escaping everything YAML could misread."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[ch])
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02X}")
        elif 0xD800 <= code <= 0xDFFF or code in (0xFEFF, 0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def scalar(value: str) -> str:
    """Return ``value`` plain when that is unambiguous (``K``, ``X/Z``, ``basic``), else quoted."""
    if (
        _PLAIN_RE.match(value)
        and value.lower() not in _YAML_SPECIAL_WORDS
        and yaml.safe_load(value) == value
    ):
        return value
    return quoted(value)


@dataclass(frozen=True)
class FlowItem:
    """One list entry written as a one-line flow mapping, optionally with a trailing comment.

    ``quote`` names the keys whose values are always double-quoted (free text and tags); the other
    values are written plain when that is unambiguous.
    """

    fields: tuple[tuple[str, str], ...]
    quote: frozenset[str]
    comment: str | None = None

    def render(self) -> str:
        parts = [
            f"{key}: {quoted(value) if key in self.quote else scalar(value)}"
            for key, value in self.fields
        ]
        line = "  - {" + ", ".join(parts) + "}"
        return f"{line}  # {self.comment}" if self.comment else line

    def data(self) -> dict[str, str]:
        return dict(self.fields)


def rule_item(tag: str, action: str, name: str, comment: str | None) -> FlowItem:
    fields = (("tag", tag), ("action", action), ("name", name))
    # `tag: private` is a keyword of the format, written plain; real tags and masks are quoted.
    quote = frozenset({"name"} if tag == "private" else {"tag", "name"})
    return FlowItem(fields, quote, comment)


@dataclass
class Document:
    """A profile or option file: scalar keys, block mappings and flow-mapping lists, in order."""

    header: list[str]
    name: str
    kind: str
    description: str
    method_label: str
    method_code: str
    settings: Mapping[str, str] = field(default_factory=dict)
    rules: list[FlowItem] = field(default_factory=list)
    safe_private: list[FlowItem] = field(default_factory=list)

    def render(self) -> str:
        lines = [f"# {text}" if text else "#" for text in self.header]
        lines.append("")
        lines.append(f"name: {scalar(self.name)}")
        lines.append(f"kind: {scalar(self.kind)}")
        lines.append(f"description: {quoted(self.description)}")
        lines.append("method:")
        lines.append(f"  label: {quoted(self.method_label)}")
        lines.append(f"  code: {quoted(self.method_code)}")
        if self.settings:
            lines.append("settings:")
            lines.extend(f"  {key}: {scalar(value)}" for key, value in self.settings.items())
        lines.append("rules:")
        lines.extend(item.render() for item in self.rules)
        if self.safe_private:
            lines.append("safe_private:")
            lines.extend(item.render() for item in self.safe_private)
        return "\n".join(lines) + "\n"

    def data(self) -> dict[str, object]:
        """What ``yaml.safe_load(self.render())`` must return."""
        out: dict[str, object] = {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "method": {"label": self.method_label, "code": self.method_code},
        }
        if self.settings:
            out["settings"] = dict(self.settings)
        out["rules"] = [item.data() for item in self.rules]
        if self.safe_private:
            out["safe_private"] = [item.data() for item in self.safe_private]
        return out


def render_checked(doc: Document, filename: str) -> str:
    """Render ``doc`` and make sure a YAML loader reads back exactly the intended data."""
    text = doc.render()
    loaded = yaml.safe_load(text)
    expected = doc.data()
    if loaded != expected:
        raise GenerationError(f"{filename}: the generated YAML does not load back as intended")
    if list(loaded) != list(expected):
        raise GenerationError(f"{filename}: key order changed on loading")
    return text


# --- reading the tables --------------------------------------------------------------------------


def read_csv(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise GenerationError(f"missing input table {path}")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [name for name in required if name not in (reader.fieldnames or [])]
        if missing:
            raise GenerationError(f"{path.name}: missing columns {missing}")
        rows = [dict(row) for row in reader]
    for number, row in enumerate(rows, start=2):
        if None in row or any(value is None for value in row.values()):
            raise GenerationError(f"{path.name}:{number}: wrong number of fields")
    return rows


@dataclass(frozen=True)
class E11Row:
    tag: str  # "(GGGG,EEEE)", a mask such as "(60xx,3000)", or "private"
    keyword: str
    keyword_source: str
    name: str
    retired: str
    vr: str
    vm: str
    actions: Mapping[str, str]  # column -> code, blank columns left out
    partial: bool
    is_pattern: bool

    @property
    def comment(self) -> str | None:
        return PARTIAL_COMMENT if self.partial else None


def load_e11(standard: Path) -> list[E11Row]:
    rows = read_csv(standard / E11_CSV, E11_COLUMNS)
    out: list[E11Row] = []
    seen: set[str] = set()
    columns = [BASIC_COLUMN, *(column for _, column in OPTIONS)]
    for number, row in enumerate(rows, start=2):
        where = f"{E11_CSV}:{number}"
        raw_tag = row["tag"].strip()
        is_pattern = row["is_pattern"] == "Y"
        if row["is_pattern"] not in ("Y", "N"):
            raise GenerationError(f"{where}: is_pattern must be Y or N")
        if raw_tag == PRIVATE_ROW:
            tag = "private"
        elif raw_tag in MASK_ROWS or _TAG_RE.match(raw_tag):
            tag = raw_tag
        else:
            raise GenerationError(f"{where}: unexpected tag {raw_tag!r}")
        if is_pattern != (raw_tag == PRIVATE_ROW or raw_tag in MASK_ROWS):
            raise GenerationError(f"{where}: is_pattern disagrees with tag {raw_tag!r}")
        if tag in seen:
            raise GenerationError(f"{where}: duplicate tag {raw_tag}")
        seen.add(tag)
        actions = {column: row[column].strip() for column in columns if row[column].strip()}
        for column, code in actions.items():
            if code not in ACTION_CODES:
                raise GenerationError(f"{where}: unknown action {code!r} in {column!r}")
        if BASIC_COLUMN not in actions:
            raise GenerationError(f"{where}: empty {BASIC_COLUMN!r} cell")
        partial = row["verification"].startswith("PARTIAL")
        edition = row["edition"]
        if partial != edition.startswith(f"after {E11_EDITION}") or not (
            partial or edition.startswith(E11_EDITION)
        ):
            raise GenerationError(f"{where}: edition {edition!r} is not {E11_EDITION} or later")
        name = row["attribute_name"].strip()
        if not name:
            raise GenerationError(f"{where}: empty attribute_name")
        out.append(
            E11Row(
                tag=tag,
                keyword=row["keyword"].strip(),
                keyword_source=row["keyword_source"].strip(),
                name=name,
                retired=row["retired"].strip(),
                vr=row["vr"].strip(),
                vm=row["vm"].strip(),
                actions=actions,
                partial=partial,
                is_pattern=is_pattern,
            )
        )
    return out


@dataclass(frozen=True)
class Method:
    code: str
    label: str
    section: str


def load_methods(standard: Path) -> dict[str, Method]:
    """Map each Table E.1-1 column to its CID 7050 method."""
    out: dict[str, Method] = {}
    for row in read_csv(standard / CID_CSV, CID_COLUMNS):
        method = Method(
            row["code_value"].strip(), row["code_meaning"].strip(), row["ps3.15_section"].strip()
        )
        if not re.fullmatch(r"1131\d\d", method.code):
            raise GenerationError(f"{CID_CSV}: unexpected code {method.code!r}")
        if len(method.label) > MAX_LO:
            raise GenerationError(f"{CID_CSV}: {method.label!r} is longer than {MAX_LO}")
        out[row["table_e1_1_column"].strip()] = method
    for column in (BASIC_COLUMN, *(column for _, column in OPTIONS)):
        if column not in out:
            raise GenerationError(f"{CID_CSV}: no code maps to Table E.1-1 column {column!r}")
    return out


def load_safe_private(standard: Path) -> list[FlowItem]:
    items: list[FlowItem] = []
    seen: set[tuple[str, str]] = set()
    for number, row in enumerate(read_csv(standard / SAFE_CSV, SAFE_COLUMNS), start=2):
        where = f"{SAFE_CSV}:{number}"
        group = row["group"].strip().upper()
        element = row["element_in_block"].strip().upper()
        creator = row["private_creator"].strip()
        if not _HEX4_RE.match(group) or int(group, 16) % 2 == 0 or not _HEX2_RE.match(element):
            raise GenerationError(f"{where}: bad private group/element {group!r}/{element!r}")
        tag = f"({group},xx{element})"
        if row["data_element"].strip().upper().replace("XX", "xx") != tag:
            raise GenerationError(f"{where}: data_element {row['data_element']!r} is not {tag}")
        if not creator:
            raise GenerationError(f"{where}: empty private_creator")
        if (tag, creator) in seen:
            raise GenerationError(f"{where}: duplicate entry {tag} {creator!r}")
        seen.add((tag, creator))
        fields = [("tag", tag), ("creator", creator)]
        if row["vr"].strip():
            fields.append(("vr", row["vr"].strip()))
        if row["vm"].strip():
            from dicomscrub.profile.model import vm_range  # (as the loader reads it)

            if vm_range(row["vm"]) is None:
                raise GenerationError(f"{where}: VM {row['vm']!r} is no VM")
            fields.append(("vm", row["vm"].strip()))
        if row["meaning"].strip():
            fields.append(("name", row["meaning"].strip()))
        items.append(FlowItem(tuple(fields), frozenset({"tag", "creator", "name"})))
    return items


# --- building the outputs ------------------------------------------------------------------------


def header(rows: Sequence[E11Row], *, safe_private_rows: int = 0) -> list[str]:
    partial = sum(1 for row in rows if row.partial)
    lines = [
        "Generated by scripts/generate_profiles.py -- do not edit by hand; change the generator",
        "and run it again (python scripts/generate_profiles.py).",
        "",
        f"Source: {E11_CSV} = DICOM PS3.15 {E11_EDITION} Table E.1-1 ({len(rows) - partial} rows),",
        f"  plus {partial} later rows marked PARTIAL (Basic Profile code checked in two tables,",
        "  option codes reconstructed: re-check them against the current PS3.15).",
        f"Method: {CID_CSV} = CID 7050 (PS3.16),",
        f"  {CID_EDITION}.",
    ]
    if safe_private_rows:
        lines += [
            f"Safe private: {SAFE_CSV} = DICOM PS3.15 Table E.3.10-1 ({safe_private_rows} rows),",
            f"  {SAFE_EDITION}.",
        ]
    return lines


def build_basic(rows: Sequence[E11Row], methods: Mapping[str, Method]) -> Document:
    method = methods[BASIC_COLUMN]
    return Document(
        header=[
            *header(rows),
            f"Added: {len(BEYOND_TABLE)} rules for attributes the table does not list",
            f"  (BEYOND_TABLE in the generator), each marked '{BEYOND_COMMENT}'.",
        ],
        name="basic",
        kind="profile",
        description=(
            f"{method.label} (PS3.15 {method.section}): the Basic Profile column of Table E.1-1"
        ),
        method_label=method.label,
        method_code=method.code,
        settings=BASIC_SETTINGS,
        rules=[
            *(rule_item(row.tag, row.actions[BASIC_COLUMN], row.name, row.comment) for row in rows),
            *(rule_item(tag, code, name, BEYOND_COMMENT) for tag, code, name in BEYOND_TABLE),
        ],
    )


def build_option(
    name: str,
    column: str,
    rows: Sequence[E11Row],
    methods: Mapping[str, Method],
    safe_private: Sequence[FlowItem],
) -> Document:
    method = methods[column]
    rules = [
        rule_item(row.tag, row.actions[column], row.name, row.comment)
        for row in rows
        if column in row.actions
    ]
    if not rules:
        raise GenerationError(f"{E11_CSV}: column {column!r} has no entries")
    with_safe = name == "retain-safe-private"
    return Document(
        header=header(rows, safe_private_rows=len(safe_private) if with_safe else 0),
        name=name,
        kind="option",
        description=(
            f"{method.label} (PS3.15 {method.section}): replaces the Basic Profile action for "
            f"{len(rules)} attribute{'' if len(rules) == 1 else 's'} of Table E.1-1"
            + (f", and lists {len(safe_private)} safe private attributes" if with_safe else "")
        ),
        method_label=method.label,
        method_code=method.code,
        settings=OPTION_SETTINGS.get(name, {}),
        rules=rules,
        safe_private=list(safe_private) if with_safe else [],
    )


def build_additions(rows: Sequence[E11Row]) -> str:
    """The non-pattern rows whose tag pydicom's dictionary lacks, as CSV sorted by tag."""
    entries: list[tuple[int, E11Row]] = []
    for row in rows:
        if row.is_pattern:
            continue
        tag = int(row.tag[1:5] + row.tag[6:10], 16)
        # Rows whose keyword did not come from pydicom's dictionary: chosen from the CSV, not from
        # the installed pydicom, so the output does not depend on the pydicom version.
        if row.keyword_source.startswith("pydicom"):
            continue
        if not (row.keyword and row.vr and row.vm and row.retired in ("Y", "N")):
            raise GenerationError(f"{E11_CSV}: {row.tag} lacks keyword, vr, vm or retired")
        entries.append((tag, row))
    entries.sort(key=lambda entry: entry[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ADDITIONS_COLUMNS)
    for tag, row in entries:
        writer.writerow([f"{tag:08X}", row.keyword, row.vr, row.vm, row.name, row.retired])
    return buffer.getvalue()


def generate(standard: Path) -> dict[Path, str]:
    """Return the text of every generated file, by path."""
    rows = load_e11(standard)
    methods = load_methods(standard)
    safe_private = load_safe_private(standard)
    outputs: dict[Path, str] = {}
    basic = PROFILES_DIR / "basic.yaml"
    outputs[basic] = render_checked(build_basic(rows, methods), basic.name)
    for name, column in OPTIONS:
        path = PROFILES_DIR / f"{name}.yaml"
        doc = build_option(name, column, rows, methods, safe_private)
        outputs[path] = render_checked(doc, path.name)
    outputs[ADDITIONS_PATH] = build_additions(rows)
    outputs[LOADED_PATH] = build_loaded(outputs)
    return outputs


def build_loaded(outputs: Mapping[Path, str]) -> str:
    """The built-in profiles, generated and written by hand, as dicomscrub loads them (see
    ``dicomscrub.profile.builtin``): each YAML text read by dicomscrub's own loader, at the path
    the installed package finds it. The loader knows keywords from the dictionary additions on
    disk: after a change of the tables, run the script (without --check) to write them first."""
    if str(REPO / "src") not in sys.path:  # this checkout's loader, not an installed copy's
        sys.path.insert(0, str(REPO / "src"))
    from dicomscrub.profile import builtin
    from dicomscrub.profile.loader import ProfileError, builtin_dir, load_document

    texts = {p: t for p, t in outputs.items() if p.suffix == ".yaml"}
    for path in sorted(PROFILES_DIR.glob("*.yaml")):  # the profiles written by hand
        texts.setdefault(path, path.read_text(encoding="utf-8"))
    docs = {}
    for path, text in texts.items():
        installed = builtin_dir() / path.name  # (the path rules name as where they were written)
        try:
            doc = load_document(installed, builtin=True, text=text)
        except ProfileError as exc:
            raise GenerationError(f"{path.name} does not load: {exc}") from None
        docs[path.stem] = (text.encode("utf-8"), doc)
    return builtin.render(docs)


# --- writing -------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step: write a temporary file, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def relative(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--standard",
        type=Path,
        default=DEFAULT_STANDARD,
        metavar="DIR",
        help=f"folder with the PS3.15 CSV tables (default: {DEFAULT_STANDARD})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 and list the files that differ from the generator's output",
    )
    args = parser.parse_args(argv)
    standard: Path = args.standard
    if not standard.is_dir():
        print(f"error: standard folder not found: {standard}", file=sys.stderr)
        return 2
    try:
        outputs = generate(standard)
    except GenerationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    differing: list[Path] = []
    for path, text in outputs.items():
        data = text.encode("utf-8")
        current = path.read_bytes() if path.is_file() else None
        if current == data:
            continue
        differing.append(path)
        if not args.check:
            write_atomic(path, data)
            print(f"wrote {relative(path)}")

    if args.check:
        if differing:
            for path in differing:
                state = "differs" if path.is_file() else "missing"
                print(f"{state}: {relative(path)}")
            print(
                "generated files are out of date; run: python scripts/generate_profiles.py",
                file=sys.stderr,
            )
            return 1
        print(f"all {len(outputs)} generated files are up to date")
    elif not differing:
        print(f"all {len(outputs)} generated files were already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
