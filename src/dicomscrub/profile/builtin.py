"""The built-in profiles as already loaded: ``data/builtin-profiles.json``.

Reading ``basic.yaml`` (some 650 rules) and checking every key of it takes about 40 ms, and
importing the YAML library some 15 ms more: a twentieth of a run's start, paid while the other
cores wait. ``scripts/generate_profiles.py`` writes the built-in profiles, then this file: each
one as :func:`dicomscrub.profile.loader.load_document` returns it, with the SHA-256 of the YAML
text it was read from. :func:`cached_document` gives that document only while the YAML file still
has that hash (a file changed by hand is read again, so that what runs is always what the YAML
says); ``tests/unit/test_builtin_profiles.py`` checks that both ways give equal documents.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from dicomscrub.actions import Action
from dicomscrub.profile.model import Method, ProfileDoc, Rule, SafePrivate
from dicomscrub.tags import Mask

FORMAT = 2
"""Changed whenever the form of the file changes: another form is not used (the YAML is read)."""


def yaml_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- writing (scripts/generate_profiles.py) ------------------------------------------------------


def _mask(mask: Mask) -> list[Any]:
    return [mask.text, mask.value, mask.care, mask.creator]


def _selector(selector: int | Mask | str) -> Any:
    """A tag as eight hex digits (``"00100010"``), a mask as a list, ``"private"`` as itself."""
    if isinstance(selector, Mask):
        return _mask(selector)
    if isinstance(selector, int):
        return f"{selector:08X}"
    if len(selector) == 8:
        raise ValueError(f"selector {selector!r} would read as a tag")
    return selector


def _line(rule: Rule, doc: ProfileDoc) -> int:
    where, _, line = rule.where.rpartition(":")
    if where != str(doc.path) or rule.source != doc.name:
        raise ValueError(f"{doc.path}: rule {rule.key} is not from this file")
    return int(line)


def encode(doc: ProfileDoc) -> dict[str, Any]:
    """``doc`` as JSON data, without its path (rules keep their line numbers)."""
    for entry in doc.safe_private:
        if entry.source != doc.name:
            raise ValueError(f"{doc.path}: safe private entry not from this file")
    method = doc.method
    return {
        "name": doc.name,
        "kind": doc.kind,
        "description": doc.description,
        "extends": list(doc.extends),
        "method": None if method is None else [method.label, method.code, method.meaning],
        "settings": {key: action.value for key, action in doc.settings.items()},
        "rules": [
            [
                _selector(rule.selector),
                rule.action.value,
                _line(rule, doc),
                rule.value,
                rule.name,
                rule.pseudonym,
            ]
            for rule in doc.rules
        ],
        "safe_private": [[_mask(e.mask), e.vr, e.vm, e.name] for e in doc.safe_private],
        "date_shift_days": None if doc.date_shift_days is None else list(doc.date_shift_days),
        "age_cap_years": doc.age_cap_years,
    }


def render(docs: dict[str, tuple[bytes, ProfileDoc]]) -> str:
    """The text of the file for ``docs`` (by name: the YAML text and the document read from it),
    one rule per line, so that a change of the profiles shows as a readable difference."""
    lines = ["{", f' "format": {FORMAT},', ' "profiles": {']
    names = sorted(docs)
    for n, name in enumerate(names):
        data, doc = docs[name]
        fields = encode(doc)
        lines.append(f"  {json.dumps(name)}: {{")
        lines.append(f'   "sha256": "{yaml_digest(data)}",')
        keys = list(fields)
        for k, key in enumerate(keys):
            end = "," if k < len(keys) - 1 else ""
            value = fields[key]
            if key in ("rules", "safe_private") and value:
                lines.append(f"   {json.dumps(key)}: [")
                for i, item in enumerate(value):
                    sep = "," if i < len(value) - 1 else ""
                    lines.append(f"    {json.dumps(item, ensure_ascii=False)}{sep}")
                lines.append(f"   ]{end}")
            else:
                lines.append(f"   {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}{end}")
        lines.append("  }" + ("," if n < len(names) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


# --- reading -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _profiles() -> dict[str, Any]:
    """The file's profiles by name; none if it is missing, unreadable or of another form."""
    try:
        text = (resources.files("dicomscrub") / "data" / "builtin-profiles.json").read_text("utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}
    profiles = data.get("profiles")
    return profiles if isinstance(profiles, dict) else {}


def _decode_mask(item: list[Any]) -> Mask:
    text, value, care, creator = item
    return Mask(text, value, care, creator)


def _decode_selector(selector: Any) -> int | Mask | str:
    if isinstance(selector, list):
        return _decode_mask(selector)
    return int(selector, 16) if len(selector) == 8 else str(selector)


def cached_document(path: Path) -> ProfileDoc | None:
    """The built-in profile at ``path`` as loaded before, if its YAML text is the one it was
    loaded from; None otherwise (the caller reads the YAML)."""
    entry = _profiles().get(path.stem)
    if entry is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None  # (the YAML reader reports it)
    if yaml_digest(data) != entry.get("sha256"):
        return None
    try:
        return _decode(path, entry)
    except (KeyError, TypeError, ValueError):  # (a file edited by hand) the YAML is read
        return None


def _decode(path: Path, fields: dict[str, Any]) -> ProfileDoc:
    name = fields["name"]
    where = f"{path}:"
    method = fields["method"]
    shift = fields["date_shift_days"]
    return ProfileDoc(
        name=name,
        kind=fields["kind"],
        path=path,
        builtin=True,
        description=fields["description"],
        extends=tuple(fields["extends"]),
        method=None if method is None else Method(*method),
        settings={key: Action(value) for key, value in fields["settings"].items()},
        rules=tuple(
            Rule(
                selector=_decode_selector(sel),
                action=Action(action),
                source=name,
                where=f"{where}{line}",
                value=value,
                name=rule_name,
                pseudonym=pseudonym,
            )
            for sel, action, line, value, rule_name, pseudonym in fields["rules"]
        ),
        safe_private=tuple(
            SafePrivate(mask=_decode_mask(mask), source=name, vr=vr, name=entry_name, vm=vm)
            for mask, vr, vm, entry_name in fields["safe_private"]
        ),
        date_shift_days=None if shift is None else (shift[0], shift[1]),
        age_cap_years=fields["age_cap_years"],
    )
