"""Load and validate YAML profiles, resolve ``extends`` and ``--option`` layers.

Every error names the file, line, column and key path, and validation is complete before any DICOM
file is touched, e.g.::

    my.yaml:12:13: rules[3].action: expected one of D, Z, X, K, C, U, ...; got 'Y'
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.valuerep import VR as VR_ENUM

from dicomscrub._startup import lazy_import
from dicomscrub.actions import ACTION_CODES, Action
from dicomscrub.dictionary import (
    first_not_uid,
    keyword_for,
    keyword_suggestions,
    tag_for_keyword,
    vr_of,
)
from dicomscrub.profile.builtin import cached_document
from dicomscrub.profile.model import (
    PRIVATE,
    CompiledProfile,
    Method,
    ProfileDoc,
    Rule,
    SafePrivate,
    compile_layers,
    vm_range,
)
from dicomscrub.profile.values import value_problem
from dicomscrub.pseudonym import PSEUDONYM_CHARS
from dicomscrub.tags import Mask, TagSyntaxError, format_tag, parse_tag_or_mask, private_mask

if TYPE_CHECKING:
    import yaml
else:  # imported when a profile is read from YAML (the built-in ones seldom are: see builtin.py)
    yaml = lazy_import("yaml")

CID7050 = {
    "113100": "Basic Application Confidentiality Profile",
    "113101": "Clean Pixel Data Option",
    "113102": "Clean Recognizable Visual Features Option",
    "113103": "Clean Graphics Option",
    "113104": "Clean Structured Content Option",
    "113105": "Clean Descriptors Option",
    "113106": "Retain Longitudinal Temporal Information Full Dates Option",
    "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
    "113108": "Retain Patient Characteristics Option",
    "113109": "Retain Device Identity Option",
    "113110": "Retain UIDs Option",
    "113111": "Retain Safe Private Option",
    "113112": "Retain Institution Identity Option",
}

PIXEL_CODES = frozenset({"113101", "113102"})
"""Clean Pixel Data and Clean Recognizable Visual Features (PS3.15 E.3.1, E.3.2): options that
change the pixel data and set (0028,0301)/(0028,0302) to NO, which dicomscrub does not do."""

TOP_KEYS = (
    "name",
    "kind",
    "description",
    "extends",
    "method",
    "settings",
    "rules",
    "safe_private",
    "date_shift_days",
    "age_cap_years",
)
RULE_KEYS = ("tag", "keyword", "action", "value", "name", "creator", "pseudonym")
PSEUDONYM_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{0,16}$")
DEFAULT_PSEUDONYM_PREFIX = "ANON-"
METHOD_KEYS = ("label", "code")
SETTING_KEYS = ("default", "unlisted_uids", "unlisted_dates", "unlisted_names")
SAFE_KEYS = ("tag", "creator", "vr", "vm", "name")
VALID_VRS = {vr.value for vr in VR_ENUM}


class ProfileError(Exception):
    """A profile that cannot be used, with the place where the problem is."""

    def __init__(self, file: str, line: int, column: int, path: str, message: str) -> None:
        self.file, self.line, self.column, self.path, self.message = (
            file,
            line,
            column,
            path,
            message,
        )
        where = f"{file}:{line}:{column}" if line else file
        super().__init__(f"{where}: {path}: {message}" if path else f"{where}: {message}")


@functools.lru_cache(maxsize=1)
def builtin_dir() -> Path:
    """The folder of built-in profiles: package data when installed, ``profiles/`` in a checkout."""
    packaged = resources.files("dicomscrub") / "profiles"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "profiles"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.yaml"))


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Ctx:
    """Where we are while validating one file."""

    def __init__(self, file: str) -> None:
        self.file = file

    def error(self, node: yaml.Node | None, path: str, message: str) -> ProfileError:
        if node is None:
            return ProfileError(self.file, 0, 0, path, message)
        mark = node.start_mark
        return ProfileError(self.file, mark.line + 1, mark.column + 1, path, message)

    def mapping(
        self, node: yaml.Node, path: str, allowed: tuple[str, ...]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Return key -> (key node, value node), rejecting unknown and duplicate keys."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, path or "(top level)", "expected a mapping of keys to values")
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            sub = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or key not in allowed:
                hint = _suggest(str(key), allowed)
                raise self.error(
                    key_node, sub, f"unknown key{hint}; allowed keys: {', '.join(allowed)}"
                )
            if key in out:
                raise self.error(key_node, sub, "key given twice")
            out[key] = (key_node, value_node)
        return out

    def string(self, node: yaml.Node, path: str, *, allow_empty: bool = False) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
            raise self.error(node, path, "expected a text value")
        value = str(node.value)
        if not value.strip() and not allow_empty:
            raise self.error(node, path, "must not be empty")
        return value

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, path, "expected a list")
        return list(node.value)

    def action(self, node: yaml.Node, path: str) -> Action:
        text = self.string(node, path)
        try:
            return Action(text.strip().upper() if text.strip() != "X/Z/U*" else text.strip())
        except ValueError:
            raise self.error(
                node, path, f"expected one of {', '.join(ACTION_CODES)}; got {text!r}"
            ) from None


def _read_yaml(path: Path, ctx: _Ctx, text: str | None = None) -> yaml.Node:
    try:
        if text is None:
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(str(path), 0, 0, "", f"cannot read profile: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ProfileError(str(path), 0, 0, "", "profile is not UTF-8 text") from None
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise ProfileError(str(path), line, col, "", f"invalid YAML: {exc.problem}") from None
    if node is None:
        raise ProfileError(str(path), 1, 1, "", "the profile is empty")
    if "!" in text:  # (a tag needs one: most profiles have none, and are not parsed again)
        _refuse_tags(path, text)
    return node


_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")
)


def _refuse_tags(path: Path, text: str) -> None:
    """A profile holds plain YAML: a tag other than the core schema's (``!include``, ``!env``,
    ``!!python/name:...``) would be read as if it were not there, so what the writer meant by it
    would silently not happen: it is an error, located."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for event in yaml.parse(text, Loader=loader):
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!" and tag not in _CORE_TAGS:
            mark = event.start_mark
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise ProfileError(
                str(path),
                mark.line + 1 if mark else 0,
                mark.column + 1 if mark else 0,
                "",
                f"YAML tag {shown} is not supported in profiles (plain YAML only): remove it",
            )


def _selector(
    ctx: _Ctx, fields: dict[str, tuple[yaml.Node, yaml.Node]], path: str, parent: yaml.Node
) -> int | Mask | str:
    has_tag, has_kw = "tag" in fields, "keyword" in fields
    if has_tag == has_kw:
        raise ctx.error(parent, path, "give exactly one of 'tag' or 'keyword'")
    creator: str | None = None
    if "creator" in fields:
        creator = ctx.string(fields["creator"][1], f"{path}.creator")
    if has_kw:
        node = fields["keyword"][1]
        keyword = ctx.string(node, f"{path}.keyword").strip()
        tag = tag_for_keyword(keyword)
        if tag is None:
            close = keyword_suggestions(keyword)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise ctx.error(node, f"{path}.keyword", f"unknown DICOM keyword {keyword!r}{hint}")
        if creator is not None:
            raise ctx.error(
                fields["creator"][1], f"{path}.creator", "only private masks take a creator"
            )
        return tag
    node = fields["tag"][1]
    text = ctx.string(node, f"{path}.tag").strip()
    if text.lower() == PRIVATE:
        if creator is not None:
            raise ctx.error(
                fields["creator"][1], f"{path}.creator", "'tag: private' takes no creator"
            )
        return PRIVATE
    try:
        if creator is not None:
            return private_mask(text, creator)
        parsed = parse_tag_or_mask(text)
    except TagSyntaxError as exc:
        raise ctx.error(node, f"{path}.tag", str(exc)) from None
    if isinstance(parsed, int) and parsed >> 16 == 0xFFFE:
        raise ctx.error(
            node, f"{path}.tag", "an item or delimitation tag (FFFE,xxxx) is no attribute"
        )
    return parsed


def load_document(path: Path, *, builtin: bool = False, text: str | None = None) -> ProfileDoc:
    """Read and validate one profile file (``extends`` names are checked by :func:`load_stack`);
    ``text``: the file's text, already read (or not yet written: the profiles' generator)."""
    ctx = _Ctx(str(path))
    root = _read_yaml(path, ctx, text)
    top = ctx.mapping(root, "", TOP_KEYS)
    name = path.stem
    if "name" in top:
        name = ctx.string(top["name"][1], "name").strip()
    kind = "profile"
    if "kind" in top:
        kind = ctx.string(top["kind"][1], "kind").strip()
        if kind not in ("profile", "option"):
            raise ctx.error(top["kind"][1], "kind", f"expected 'profile' or 'option'; got {kind!r}")
    description = ""
    if "description" in top:
        description = ctx.string(top["description"][1], "description", allow_empty=True).strip()
    extends: list[str] = []
    if "extends" in top:
        ext_node = top["extends"][1]
        items = (
            [ext_node]
            if isinstance(ext_node, yaml.ScalarNode)
            else ctx.sequence(ext_node, "extends")
        )
        for i, item in enumerate(items):
            parent = ctx.string(item, f"extends[{i}]").strip()
            if parent in extends:
                raise ctx.error(item, f"extends[{i}]", f"{parent!r} is listed twice")
            extends.append(parent)
    method = _method(ctx, top, name)
    settings: dict[str, Action] = {}
    if "settings" in top:
        for key, (_, value_node) in ctx.mapping(
            top["settings"][1], "settings", SETTING_KEYS
        ).items():
            settings[key] = ctx.action(value_node, f"settings.{key}")
            if key != "unlisted_uids" and settings[key] in (Action.U, Action.X_Z_U):
                # U replaces UIDs: on the numbers, text, dates and names these settings reach
                # (DS, IS, PN ...) it cannot run, and every such file would fail
                raise ctx.error(
                    value_node,
                    f"settings.{key}",
                    f"{settings[key].value} replaces UIDs, and this setting also applies to "
                    "attributes that are no UIDs: use D, Z, X, K or C (unlisted_uids sets the "
                    "action for UIDs)",
                )
    rules: list[Rule] = []
    if "rules" in top:
        seen: dict[str, str] = {}
        for i, item in enumerate(ctx.sequence(top["rules"][1], "rules")):
            rule = _rule(ctx, item, f"rules[{i}]", name)
            if rule.key in seen:
                raise ctx.error(
                    item, f"rules[{i}]", f"{rule.key} already has a rule at {seen[rule.key]}"
                )
            seen[rule.key] = f"rules[{i}]"
            rules.append(rule)
    safe: list[SafePrivate] = []
    if "safe_private" in top:
        for i, item in enumerate(ctx.sequence(top["safe_private"][1], "safe_private")):
            safe.append(_safe_entry(ctx, item, f"safe_private[{i}]", name))
    date_shift = _date_shift(ctx, top)
    age_cap: int | None = None
    if "age_cap_years" in top:
        age_cap = _integer(ctx, top["age_cap_years"][1], "age_cap_years", 1, 150)
    return ProfileDoc(
        name=name,
        kind=kind,
        path=path,
        builtin=builtin,
        description=description,
        extends=tuple(extends),
        method=method,
        settings=settings,
        rules=tuple(rules),
        safe_private=tuple(safe),
        date_shift_days=date_shift,
        age_cap_years=age_cap,
    )


def _integer(ctx: _Ctx, node: yaml.Node, path: str, low: int, high: int) -> int:
    text = ctx.string(node, path)
    try:
        number = int(text)
    except ValueError:
        raise ctx.error(node, path, f"expected a whole number; got {text!r}") from None
    if not low <= number <= high:
        raise ctx.error(node, path, f"expected a number from {low} to {high}; got {number}")
    return number


def _date_shift(ctx: _Ctx, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[int, int] | None:
    """``date_shift_days: [min, max]``: the range of per-patient offsets, 0 excluded."""
    if "date_shift_days" not in top:
        return None
    node = top["date_shift_days"][1]
    items = ctx.sequence(node, "date_shift_days")
    if len(items) != 2:
        raise ctx.error(node, "date_shift_days", "expected [min, max] in days, e.g. [-3650, -1]")
    low = _integer(ctx, items[0], "date_shift_days[0]", -36500, 36500)
    high = _integer(ctx, items[1], "date_shift_days[1]", -36500, 36500)
    if low > high:
        raise ctx.error(node, "date_shift_days", "min is greater than max")
    if low == high == 0:
        raise ctx.error(node, "date_shift_days", "the range holds only 0: dates would not move")
    return (low, high)


def _method(ctx: _Ctx, top: dict[str, tuple[yaml.Node, yaml.Node]], name: str) -> Method | None:
    if "method" not in top:
        return None
    fields = ctx.mapping(top["method"][1], "method", METHOD_KEYS)
    if "label" not in fields:
        raise ctx.error(top["method"][1], "method.label", "a method needs a label")
    label_node = fields["label"][1]
    label = ctx.string(label_node, "method.label").strip()
    if len(label) > 64:
        raise ctx.error(label_node, "method.label", "is longer than 64 characters (VR LO)")
    if "\\" in label or any(ord(c) < 32 for c in label):
        raise ctx.error(
            label_node, "method.label", "must not hold a backslash or control characters"
        )
    code: str | None = None
    meaning: str | None = None
    if "code" in fields:
        code = ctx.string(fields["code"][1], "method.code").strip()
        if code not in CID7050:
            raise ctx.error(
                fields["code"][1],
                "method.code",
                f"expected a CID 7050 code value (113100 ... 113112); got {code!r}",
            )
        if code in PIXEL_CODES:
            raise ctx.error(
                fields["code"][1],
                "method.code",
                f"{code} ({CID7050[code]}) is done on pixel data, which dicomscrub never"
                " changes: the code would say it was done",
            )
        meaning = CID7050[code]
    return Method(label=label, code=code, meaning=meaning)


def _rule(ctx: _Ctx, node: yaml.Node, path: str, source: str) -> Rule:
    fields = ctx.mapping(node, path, RULE_KEYS)
    selector = _selector(ctx, fields, path, node)
    if "action" not in fields:
        raise ctx.error(node, f"{path}.action", "every rule needs an action")
    action = ctx.action(fields["action"][1], f"{path}.action")
    if action is Action.U and isinstance(selector, int) and vr_of(selector) not in (None, "UI"):
        raise ctx.error(
            fields["action"][1],
            f"{path}.action",
            f"U replaces UIDs; this attribute's VR is {vr_of(selector)}: use D, Z or X",
        )
    if action is Action.U and isinstance(selector, Mask) and not selector.is_private:
        other = first_not_uid(selector)  # (a private element's VR is known only in the file:
        if other is not None:  # one that holds no UID is removed, and the audit says why)
            raise ctx.error(
                fields["action"][1],
                f"{path}.action",
                f"U replaces UIDs; {selector.text} also reaches attributes that are no UIDs, "
                f"e.g. {format_tag(other)} {keyword_for(other)} ({vr_of(other)}): give the UID "
                "attributes' own tags, or use D, Z or X",
            )
    value: str | None = None
    if "value" in fields:
        vnode = fields["value"][1]
        if action is not Action.D:
            raise ctx.error(
                vnode, f"{path}.value", "a replacement value is only used with action D"
            )
        if isinstance(vnode, yaml.SequenceNode):
            value = "\\".join(ctx.string(v, f"{path}.value") for v in vnode.value)
        else:
            value = ctx.string(vnode, f"{path}.value")
        if isinstance(selector, int):  # a standard attribute: its VR and VM are known
            problem = value_problem(selector, value)
            if problem:
                raise ctx.error(vnode, f"{path}.value", problem)
    pseudonym: str | None = None
    if "pseudonym" in fields:
        pnode = fields["pseudonym"][1]
        if action is not Action.D:
            raise ctx.error(
                pnode, f"{path}.pseudonym", "a pseudonym is a dummy value: use action D"
            )
        if value is not None:
            raise ctx.error(
                pnode, f"{path}.pseudonym", "give either 'value' or 'pseudonym', not both"
            )
        if isinstance(pnode, yaml.ScalarNode) and pnode.tag == "tag:yaml.org,2002:bool":
            if pnode.value.lower() not in ("true", "yes", "on"):
                raise ctx.error(
                    pnode, f"{path}.pseudonym", "write true or a prefix, or leave it out"
                )
            pseudonym = DEFAULT_PSEUDONYM_PREFIX
        else:
            pseudonym = ctx.string(pnode, f"{path}.pseudonym", allow_empty=True).strip()
            if not PSEUDONYM_PREFIX_RE.match(pseudonym):
                raise ctx.error(
                    pnode,
                    f"{path}.pseudonym",
                    "a pseudonym prefix has at most 16 letters, digits, '-' or '_'",
                )
        if isinstance(selector, int):  # a standard attribute: the pseudonym must fit its VR
            sample = pseudonym + "A" * PSEUDONYM_CHARS
            problem = value_problem(selector, sample)
            if problem:
                raise ctx.error(
                    pnode,
                    f"{path}.pseudonym",
                    f"a pseudonym ({len(sample)} characters, such as {sample}) cannot be its "
                    f"value: {problem}",
                )
    rule_name: str | None = None
    if "name" in fields:
        rule_name = ctx.string(fields["name"][1], f"{path}.name", allow_empty=True)
    line = node.start_mark.line + 1
    return Rule(
        selector=selector,
        action=action,
        source=source,
        where=f"{ctx.file}:{line}",
        value=value,
        name=rule_name,
        pseudonym=pseudonym,
    )


def _safe_entry(ctx: _Ctx, node: yaml.Node, path: str, source: str) -> SafePrivate:
    fields = ctx.mapping(node, path, SAFE_KEYS)
    for key in ("tag", "creator"):
        if key not in fields:
            raise ctx.error(node, f"{path}.{key}", f"a safe_private entry needs '{key}'")
    creator = ctx.string(fields["creator"][1], f"{path}.creator")
    tag_node = fields["tag"][1]
    try:
        mask = private_mask(ctx.string(tag_node, f"{path}.tag"), creator)
    except TagSyntaxError as exc:
        raise ctx.error(tag_node, f"{path}.tag", str(exc)) from None
    vr: str | None = None
    if "vr" in fields:
        vr = ctx.string(fields["vr"][1], f"{path}.vr").strip().upper()
        if not all(part.strip() in VALID_VRS for part in re.split(r"/| OR ", vr)):
            raise ctx.error(fields["vr"][1], f"{path}.vr", f"unknown VR {vr!r}")
    vm: str | None = None
    if "vm" in fields:
        vm = ctx.string(fields["vm"][1], f"{path}.vm").strip().lower()
        if vm_range(vm) is None:
            raise ctx.error(
                fields["vm"][1], f"{path}.vm", f"expected a VM such as 1, 2, 1-n or 0-1; got {vm!r}"
            )
    entry_name = ctx.string(fields["name"][1], f"{path}.name") if "name" in fields else None
    return SafePrivate(mask=mask, source=source, vr=vr, name=entry_name, vm=vm)


def _resolve_ref(ref: str, relative_to: Path | None) -> tuple[Path, bool]:
    """A profile reference is a built-in name or a path (relative to the referring file)."""
    names = builtin_names()
    if ref in names:
        return builtin_dir() / f"{ref}.yaml", True
    candidate = Path(ref).expanduser()
    if relative_to is not None and not candidate.is_absolute():
        candidate = relative_to.parent / candidate
    if candidate.is_file():
        return candidate, False
    if candidate.is_dir():
        raise LookupError(f"{ref!r} is a folder, not a profile file")
    raise LookupError(f"no built-in profile and no file named {ref!r}{_suggest(ref, names)}")


def _linearize(
    path: Path, builtin: bool, stack: tuple[Path, ...], done: dict[Path, ProfileDoc]
) -> Iterator[ProfileDoc]:
    real = path.resolve()
    doc = (
        done.get(real)
        or (cached_document(path) if builtin else None)
        or load_document(path, builtin=builtin)
    )
    for i, ref in enumerate(doc.extends):
        try:
            parent_path, parent_builtin = _resolve_ref(ref, path)
        except LookupError as exc:
            raise _extends_error(path, i, str(exc)) from None
        parent_real = parent_path.resolve()
        if parent_real in stack or parent_real == real:
            chain = " -> ".join(p.name for p in (*stack, real, parent_real))
            raise _extends_error(path, i, f"extends forms a cycle: {chain}")
        if parent_real in done:
            continue
        yield from _linearize(parent_path, parent_builtin, (*stack, real), done)
    done[real] = doc
    yield doc


def _extends_error(path: Path, index: int, message: str) -> ProfileError:
    """Locate extends[index] in ``path`` for an error message."""
    ctx = _Ctx(str(path))
    root = _read_yaml(path, ctx)
    node: yaml.Node | None = None
    for key_node, value_node in root.value if isinstance(root, yaml.MappingNode) else []:
        if key_node.value == "extends":
            node = value_node
            if isinstance(value_node, yaml.SequenceNode) and index < len(value_node.value):
                node = value_node.value[index]
    return ctx.error(node, f"extends[{index}]", message)


def load_layers(profile: str, options: tuple[str, ...] = ()) -> tuple[ProfileDoc, ...]:
    """Load ``profile`` with its ``extends`` chain, then each option; validate everything."""
    done: dict[Path, ProfileDoc] = {}
    layers: list[ProfileDoc] = []
    refs = [("--profile", profile), *(("--option", o) for o in options)]
    for flag, ref in refs:
        try:
            path, builtin = _resolve_ref(ref, None)
        except LookupError as exc:
            raise ProfileError(flag, 0, 0, "", str(exc)) from None
        if path.resolve() not in done:
            layers.extend(_linearize(path, builtin, (), done))
        if flag == "--option" and builtin and done[path.resolve()].kind == "profile":
            # (it would add nothing, silently: every stack starts from basic already)
            raise ProfileError(
                flag,
                0,
                0,
                "",
                f"{ref!r} is a built-in profile, not an option: every run starts from it "
                "(--profile basic is the default); leave it out, or name an option "
                "(dicomscrub profiles list)",
            )
    names: dict[str, Path] = {}
    for layer in layers:
        if layer.name in names and names[layer.name] != layer.path.resolve():
            raise ProfileError(
                str(layer.path),
                0,
                0,
                "name",
                f"two different profiles are named {layer.name!r} ({names[layer.name]})",
            )
        names[layer.name] = layer.path.resolve()
    return tuple(layers)


def require_basic(profile: str, layers: tuple[ProfileDoc, ...]) -> None:
    """Every run starts from the Basic Profile: the settings default to K (keep), so a stack
    without it would keep every attribute no layer names and still mark the files
    Patient Identity Removed."""
    path, _ = _resolve_ref(profile, None)
    at = next(i for i, layer in enumerate(layers) if layer.path.resolve() == path.resolve())
    if any(layer.builtin and layer.name == "basic" for layer in layers[: at + 1]):
        return  # (in the profile's own chain: basic given as an --option would come last)
    top = layers[at]
    where = "--profile" if top.builtin else str(top.path)
    if top.kind == "option":
        message = (
            f"{top.name!r} is an option, not a profile: it changes what the Basic Profile "
            f"does and cannot run alone; use --option {profile} (the profile is basic by default)"
        )
    else:
        message = (
            f"profile {top.name!r} does not extend basic; every profile must start from the "
            "Basic Profile (add 'extends: basic'), or attributes no rule names would be kept"
        )
    raise ProfileError(where, 0, 0, "", message)


def load_profile(profile: str = "basic", options: tuple[str, ...] = ()) -> CompiledProfile:
    """Load and compile a profile stack that starts from the Basic Profile; raises
    :class:`ProfileError` on any problem."""
    layers = load_layers(profile, options)
    require_basic(profile, layers)
    return compile_layers(layers)


def validate_file(path: Path) -> CompiledProfile:
    """Validate one profile file and everything it extends."""
    return load_profile(str(path))


def dump_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
