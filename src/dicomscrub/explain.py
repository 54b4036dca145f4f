"""``dicomscrub explain FILE``: what the profile does to every element of one file, and why.

The file is de-identified in memory exactly as ``run`` would (with a throwaway key: which action
applies never depends on the key) while :class:`~dicomscrub.pipeline.Scrubber` records its
decisions; nothing is written. Values are shown only for elements that are kept (they are in the
output anyway), never for elements that are removed, emptied or replaced; a kept value or a
private creator that holds an identifying value of the file (one the profile does not keep: a
name or one of its components, an ID, UID, date, time, institution) is masked as reports mask
them (``D*** (8 chars)``). The file also goes through ``run``'s own steps (``--dry-run``, leak
check included), so that a file ``run`` rejects is said to be rejected, with ``run``'s reason.
"""

from __future__ import annotations

import re
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from dicomscrub.actions import Effect
from dicomscrub.check import SET_AFTER_RULES, redact
from dicomscrub.damage import DamagedValue
from dicomscrub.dictionary import keyword_for, vr_of
from dicomscrub.discover import json_text, name_text
from dicomscrub.identity import NAMING, Matcher, Original, candidates, snapshot
from dicomscrub.pipeline import Basis, Decision, PrivateRecord, Scrubber
from dicomscrub.private import (
    BlockStatus,
    Declaration,
    creator_text,
    find_declaration,
    read_declarations,
)
from dicomscrub.profile.model import CompiledProfile
from dicomscrub.pseudonym import Pseudonymizer, random_key
from dicomscrub.tags import is_private_group

VALUE_WIDTH = 48
"""Kept values longer than this are cut (with …)."""


class ExplainError(Exception):
    """The file cannot be explained (not DICOM, unreadable); the message names no value."""


@dataclass(frozen=True)
class Row:
    """One element of the file."""

    path: str
    keyword: str
    vr: str
    action: str  # the action code that applied ("" when none did)
    effect: str  # what happened: kept, removed, emptied, dummy value, new UID, ...
    rule: str  # what decided it: a rule (profile: selector action), a setting, a basis
    value: str = ""  # only for kept elements


@dataclass(frozen=True)
class Block:
    """One private block (one Private Creator element) and what became of it."""

    path: str  # the creator element, e.g. (0019,0010)
    creator: str
    declared: str  # its item in (0008,0300), or "not declared"
    fate: str


@dataclass
class Explanation:
    file: str
    profile: tuple[str, ...]
    rejected: str = ""
    """Why ``run`` would reject the file and write nothing (empty when it would write it)."""
    elements: list[Row] = field(default_factory=list)
    private_blocks: list[Block] = field(default_factory=list)
    after_the_rules: list[str] = field(default_factory=list)


_EFFECT_TEXT = {
    Effect.DUMMY: "dummy value",
    Effect.EMPTY: "emptied",
    Effect.REMOVE: "removed",
    Effect.KEEP: "kept",
    Effect.UID: "new UID",
    Effect.KEEP_REPLACE_UIDS: "kept, UIDs inside replaced",
}


def _effect_text(decision: Decision) -> str:
    effect = decision.effect
    if effect is Effect.DUMMY and decision.rule is not None and decision.rule.pseudonym is not None:
        return "keyed pseudonym"
    if effect is Effect.DUMMY and decision.vr == "SQ":
        return "one empty item"
    if effect is Effect.EMPTY and decision.vr == "SQ":
        return "no items"
    if effect is Effect.KEEP_REPLACE_UIDS and decision.vr != "SQ":
        return "new UID"
    if effect is Effect.CLEAN:
        vr = decision.vr
        if vr == "SQ":
            return "cleaned item by item"
        if vr in ("DA", "DT"):
            return "date shifted"
        if vr == "UI":
            return "new UID"
        if vr in ("TM", "DS", "IS", "AS") or vr in ("US", "SS", "UL", "SL", "FL", "FD"):
            return "kept (cleaning keeps it)"
        if vr in ("OB", "OW", "UN", "OD", "OF", "OL", "OV"):
            return "removed (binary: cannot be cleaned)"
        return "cleaned of this file's identifying values"
    return _EFFECT_TEXT[effect]


def _creators_redacted(text: str, naming: Matcher) -> str:
    """A rule's text with the creators it names ([Johanna Smithson]) redacted (see
    :func:`redact`), its own words as they are (a Verifying Organization value Organisation
    masks no word of "organisation UID")."""
    return _BRACKETED.sub(lambda m: f"[{redact(m.group(1), naming)}]", text)


_BRACKETED = re.compile(r"\[([^\]]*)\]")


def _rule_text(decision: Decision, profile: CompiledProfile) -> str:
    def setting(name: str) -> str:
        source = profile.setting_sources.get(name)
        return f"settings.{name} ({source})" if source else f"settings.{name} (built-in default)"

    basis, action = decision.basis, decision.action.value
    if basis is Basis.RULE and decision.rule is not None:
        rule = decision.rule
        return f"{rule.source}: {rule.key} {rule.action.value}"
    if basis is Basis.DEFAULT:
        return f"not listed: {setting('default')} {action}"
    # an attribute the dictionary does not know, read as UN, handled by the form of its value
    shaped = "unknown attribute shaped like a " if vr_of(decision.tag) in (None, "UN") else ""
    if basis is Basis.UNLISTED_UID:
        what = f"{shaped}UID" if shaped else "UID not defined by the standard"
        return f"{what}: {setting('unlisted_uids')} {action}"
    if basis is Basis.UNLISTED_DATE:
        what = f"{shaped}date/time" if shaped else "date/time not listed"
        return f"{what}: {setting('unlisted_dates')} {action}"
    if basis is Basis.UNLISTED_NAME:
        what = f"{shaped}person name" if shaped else "person name not listed"
        return f"{what}: {setting('unlisted_names')} {action}"
    if basis is Basis.STANDARD_UID:
        return "only UIDs defined by the standard (1.2.840.10008.*): kept"
    if basis is Basis.STRUCTURAL_UID:
        return "class, syntax or organisation UID: kept"
    if basis is Basis.UID_IN_SEQUENCE:
        return "UID inside an X/Z/U* sequence: U"
    if basis is Basis.IN_CLEANED_SEQUENCE:
        return f"not listed, inside a sequence cleaned (C): {action}"
    if basis is Basis.UNREADABLE_ITEMS:
        return "unknown value that starts like a sequence but cannot be read: removed"
    return "group length: dropped (recomputed on write when needed)"


def _shown(elem: DataElement | None) -> str:
    """A kept value as text; binary values by their length only."""
    if elem is None or elem.VR == "SQ":
        return ""
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>" if value else ""
    if isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(v) for v in value)
    else:
        text = str(value)
    return " ".join(text.split())


def _cut(text: str) -> str:
    """``text`` cut to VALUE_WIDTH (with …)."""
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


_STEP = re.compile(r"\((\w{4}),(\w{4})\)(?:\[(\d+)\])?")


def element_at(ds: Dataset, path: str) -> DataElement | None:
    """The element at a tag path such as ``(0008,1140)[0]/(0008,1155)``, or None."""
    current: Dataset = ds
    steps = path.split("/")
    for n, step in enumerate(steps):
        m = _STEP.fullmatch(step)
        if m is None:
            return None
        tag = int(m.group(1) + m.group(2), 16)
        if tag not in current:
            return None
        elem = current[tag]
        if n == len(steps) - 1:
            return elem
        if m.group(3) is None or elem.VR != "SQ":
            return None
        items = elem.value or []
        index = int(m.group(3))
        if index >= len(items):
            return None
        current = items[index]
    return None


def _declared(decl: Declaration | None) -> str:
    if decl is None:
        return "not declared"
    if decl.problem:
        return f"UNSAFE (malformed: {decl.problem})"
    text = decl.status.value
    if decl.status is BlockStatus.MIXED:
        text += ", nonidentifying " + (
            " ".join(f"{b:02X}" for b in sorted(decl.nonidentifying)) or "none"
        )
    if decl.actions:
        text += ", actions " + " ".join(f"{b:02X}={a}" for b, a in sorted(decl.actions.items()))
    return text


def _meta_row(orig: Original) -> Row:
    keyword = keyword_for(orig.tag)
    base = "file meta: rewritten for the output (PS3.10 7.1)"
    if orig.tag in (0x00020002, 0x00020010):
        value = "\\".join(str(v) for v in orig.values)
        return Row(orig.path, keyword, orig.vr, "", "kept", base, value)
    if orig.tag == 0x00020003:
        return Row(orig.path, keyword, orig.vr, "", "new UID", base)
    if orig.tag in (0x00020000, 0x00020001, 0x00020012, 0x00020013):
        return Row(orig.path, keyword, orig.vr, "", "replaced", base)
    return Row(orig.path, keyword, orig.vr, "", "removed", base)


def _block_key(path: str) -> tuple[str, int, int]:
    """(item prefix, group, block byte) of a private element's path."""
    prefix, _, last = path.rpartition("/")
    tag = int(last[1:5] + last[6:10], 16)
    return prefix, tag >> 16, (tag & 0xFFFF) >> 8


def explain_dataset(ds: Dataset, profile: CompiledProfile, name: str) -> Explanation:
    """Scrub ``ds`` in place, recording every decision, and describe them."""
    scrubber = Scrubber(profile, Pseudonymizer(random_key()))
    originals = snapshot(ds)
    declarations = read_declarations(ds)
    decisions: list[Decision] = []
    result = scrubber.scrub(ds, decisions)
    by_path = {d.path: d for d in decisions}
    records: dict[str, PrivateRecord] = {r.tag: r for r in result.private}
    out = Explanation(name, profile.names)

    ident = candidates(originals, decisions, result.kept_private, scrubber, shifted_dates=True)
    naming = Matcher([t for t in ident.tokens.values() if t.category in NAMING], ident.charsets)

    def _show(elem: DataElement | None) -> str:
        return _cut(redact(_shown(elem), naming))

    removed_sequences: list[str] = []
    for orig in originals:
        if orig.tag >> 16 == 0x0002:
            out.elements.append(_meta_row(orig))
            continue
        keyword = keyword_for(orig.tag) if not orig.private else f"[{redact(orig.creator, naming)}]"
        if orig.is_creator:
            keyword = "PrivateCreator"
        elif keyword == "[]":
            keyword = ""
        decision = by_path.get(orig.path)
        if int(orig.path[1:5] + orig.path[6:10], 16) in SET_AFTER_RULES:
            action = decision.action.value if decision is not None and "/" not in orig.path else ""
            out.elements.append(
                Row(orig.path, keyword, orig.vr, action, "rewritten", "after the rules (below)")
            )
            continue
        if decision is not None:
            effect = _effect_text(decision)
            kept = decision.effect is Effect.KEEP or effect.startswith("kept")
            value = _show(element_at(ds, orig.path)) if kept else ""
            out.elements.append(
                Row(
                    orig.path,
                    keyword,
                    decision.vr,
                    decision.action.value,
                    effect,
                    _creators_redacted(_rule_text(decision, profile), naming),
                    value,
                )
            )
            if decision.vr == "SQ" and decision.effect in (
                Effect.REMOVE,
                Effect.EMPTY,
                Effect.DUMMY,
            ):
                removed_sequences.append(orig.path + "[")
            continue
        record = records.get(orig.path)
        if record is not None:
            rule = profile.private_rule_for(orig.tag, record.creator or None)
            action = (rule.action if rule is not None else profile.default).value
            if record.basis in ("creator-of-kept-block", "creator-of-removed-block"):
                action = ""
            elif record.basis in ("forbidden-odd-group", "no-private-creator"):
                action = "X"
            elif record.basis == "declared-action":
                action = record.detail.split()[2] if record.detail.startswith("declared") else ""
            # (a rule's text names the creator it selects by, which may name the patient)
            why = _creators_redacted(
                record.basis + (f"; {record.detail}" if record.detail else ""), naming
            )
            value = _show(element_at(ds, orig.path)) if record.decision == "kept" else ""
            vr = orig.vr
            kept_elem = element_at(ds, orig.path) if record.decision == "kept" else None
            if kept_elem is not None:
                vr = kept_elem.VR
            out.elements.append(Row(orig.path, keyword, vr, action, record.decision, why, value))
            continue
        enclosing = next((p[:-1] for p in removed_sequences if orig.path.startswith(p)), "")
        why = f"inside {enclosing}" if enclosing else "inside a sequence that was not kept"
        out.elements.append(Row(orig.path, keyword, orig.vr, "", "removed with its sequence", why))

    # Private blocks: one per Private Creator element, at any depth.
    counts: dict[tuple[str, int, int], list[str]] = {}
    for rec in result.private:
        last = rec.tag.rpartition("/")[2]
        element = int(last[6:10], 16)
        group = int(last[1:5], 16)
        if not is_private_group(group) or 0x10 <= element <= 0xFF or element < 0x1000:
            continue
        counts.setdefault(_block_key(rec.tag), []).append(rec.decision)
    for orig in originals:
        if not orig.is_creator:
            continue
        prefix, _, _ = orig.path.rpartition("/")
        group, byte = orig.tag >> 16, orig.tag & 0xFF
        record = records.get(orig.path)  # the creator as the scrub named the block
        creator = record.creator if record is not None else creator_text(orig.value).strip(" \0")
        fates = counts.get((prefix, group, byte), [])
        stay = sum(1 for f in fates if f != "removed")
        if not fates:
            fate = "no elements"
        elif stay:
            fate = f"kept: {stay} of {len(fates)} elements stay"
        else:
            fate = f"removed: all {len(fates)} elements"
        decl = find_declaration(declarations, group, creator)
        out.private_blocks.append(Block(orig.path, redact(creator, naming), _declared(decl), fate))

    out.after_the_rules = [
        "(0012,0062) PatientIdentityRemoved: YES",
        "(0012,0063) DeidentificationMethod: + "
        + (" \\ ".join(result.methods) if result.methods else "(no label)"),
        "(0012,0064) DeidentificationMethodCodeSequence: + "
        + (" ".join(result.method_codes) if result.method_codes else "(no code)"),
        f"(0028,0303) LongitudinalTemporalInformationModified: {result.dates}",
        "(0008,0300) PrivateDataElementCharacteristicsSequence: "
        + (
            "one SAFE item per private block left"
            if 0x00080300 in ds
            else "removed (no private block left)"
        ),
        "preamble: zeroed; file meta: rewritten; transfer syntax and pixel data bytes unchanged",
    ]
    return out


def explain_file(path: Path, profile: CompiledProfile) -> Explanation:
    """Read ``path`` as ``run`` does and explain it; raise :class:`ExplainError` if it cannot."""
    from dicomscrub.process import (
        MEDIA_STORAGE_DIRECTORY,
        Unreadable,
        damaged_value,
        quiet_pydicom,
        read_dataset,
        refusal,
        safe_message,
    )

    with quiet_pydicom():
        try:
            ds, reason = read_dataset(path)
        except Unreadable as exc:
            raise ExplainError(f"{path}: unreadable DICOM: {exc}") from None
        except OSError as exc:
            raise ExplainError(
                f"{path}: cannot read: {exc.strerror or type(exc).__name__}"
            ) from None
        except Exception as exc:
            _raise_damaged(path, damaged_value(path))
            raise ExplainError(f"{path}: cannot parse DICOM: {safe_message(exc)}") from None
        if ds is None:
            raise ExplainError(f"{path}: {reason}")
        meta = getattr(ds, "file_meta", None)
        sop_class = ds.get("SOPClassUID") or (meta.get("MediaStorageSOPClassUID") if meta else "")
        if "DirectoryRecordSequence" in ds or str(sop_class) == MEDIA_STORAGE_DIRECTORY:
            raise ExplainError(f"{path}: DICOMDIR (media directory): run never copies it")
        if not sop_class:
            raise ExplainError(
                f"{path}: unsupported object: no SOP Class UID (0008,0016); run rejects it"
            )
        has_pixels = any(tag in ds for tag in (0x7FE00008, 0x7FE00009, 0x7FE00010))
        try:
            refused = refusal(ds, str(sop_class), has_pixels)
            explanation = explain_dataset(ds, profile, path.name)
        except Exception as exc:
            _raise_damaged(path, exc if isinstance(exc, DamagedValue) else damaged_value(path))
            raise ExplainError(f"{path}: cannot de-identify: {safe_message(exc)}") from None
        explanation.rejected = refused or _rejected_by_run(path, profile)
        return explanation


def _raise_damaged(path: Path, damaged: DamagedValue | None) -> None:
    """As ``run`` says it: the element whose value does not fit its VR, if one is at fault."""
    if damaged is not None:
        raise ExplainError(f"{path}: {damaged.label}: {damaged}; run rejects it") from None


def _rejected_by_run(path: Path, profile: CompiledProfile) -> str:
    """Why ``run --dry-run`` rejects ``path`` with ``profile`` (its leak check included), or "".
    Nothing is written: the output folder it is given does not exist."""
    from dicomscrub.discover import Source
    from dicomscrub.process import Job, Status, process_file
    from dicomscrub.writer import Layout, OutputPlan

    nowhere = Path(tempfile.gettempdir()) / f"dicomscrub-explain-{secrets.token_hex(8)}"
    job = Job(
        Scrubber(profile, Pseudonymizer(random_key())),
        OutputPlan(nowhere, Layout.HIERARCHY, ("in",)),
        dry_run=True,
    )
    outcome = process_file(Source(path, 0, path.parent, path.name), job)
    return outcome.detail if outcome.status is Status.REJECTED else ""


# ---- output --------------------------------------------------------------------------------------


def render_json(explanation: Explanation) -> str:
    """The explanation as JSON (see :func:`~dicomscrub.discover.json_text`)."""
    return json_text(asdict(explanation))


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    # a value or creator from the file is shown on one line, with nothing a terminal would act
    # on (an escape sequence, a newline): its controls as \xNN, as the audit shows file names
    rows = [tuple(map(name_text, row)) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [headers, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return lines


def render_text(explanation: Explanation) -> str:
    """A plain, aligned table (stable, so a golden file can pin it)."""
    lines = [
        f"{name_text(explanation.file)}: profile {' + '.join(explanation.profile)}",
        "values are shown only for kept elements",
    ]
    if explanation.rejected:
        lines.append(f"run rejects this file, nothing is written: {explanation.rejected}")
    lines += ["", "Elements"]
    lines += _table(
        ("path", "keyword", "VR", "action", "effect", "decided by", "value"),
        [
            (r.path, r.keyword, r.vr, r.action, r.effect, r.rule, r.value)
            for r in explanation.elements
        ],
    )
    lines += ["", "Private blocks"]
    if explanation.private_blocks:
        lines += _table(
            ("creator element", "creator", "declared in (0008,0300)", "fate"),
            [(b.path, b.creator, b.declared, b.fate) for b in explanation.private_blocks],
        )
    else:
        lines.append("(none)")
    lines += ["", "After the rules"]
    lines += [f"  {item}" for item in explanation.after_the_rules]
    return "\n".join(lines) + "\n"
