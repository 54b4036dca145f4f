"""Value types of a loaded profile: rules, methods, safe private entries, and the compiled stack."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dicomscrub.actions import Action
from dicomscrub.tags import Mask, format_tag

PRIVATE = "private"
"""The selector of the Table E.1-1 row ``(gggg,eeee) where gggg is odd``."""

Selector = int | Mask | str


def selector_text(selector: Selector) -> str:
    if isinstance(selector, int):
        return format_tag(selector)
    if isinstance(selector, Mask):
        return selector.text + (f" [{selector.creator}]" if selector.creator else "")
    return selector


@dataclass(frozen=True)
class Rule:
    """One rule of one profile: a selector, an action, and where it was written."""

    selector: Selector
    action: Action
    source: str  # profile name
    where: str  # file:line
    value: str | None = None
    name: str | None = None
    pseudonym: str | None = None  # D with a keyed pseudonym: the prefix ("" allowed)

    @property
    def key(self) -> str:
        """Rules with the same key replace each other across layers."""
        return selector_text(self.selector)


_VM = re.compile(r"(\d+)(?:-(\d+|\d*n))?")


def vm_range(vm: str) -> tuple[int, int | None] | None:
    """The least and the most number of values (None: no most) of a VM as PS3.6 writes it
    (``1``, ``0-1``, ``1-n``, ``2-2n``: a multiple of 2 is not checked), or None for a text
    that is no VM."""
    m = _VM.fullmatch(vm.strip().lower())
    if m is None:
        return None
    least = int(m.group(1))
    most = m.group(2)
    if most is None:
        return least, least
    if most.endswith("n"):
        return least, None
    return (least, int(most)) if int(most) >= least else None


@dataclass(frozen=True)
class SafePrivate:
    """A private element known to be safe, addressed by creator, group and element byte."""

    mask: Mask  # always with a creator
    source: str
    vr: str | None = None
    name: str | None = None
    vm: str | None = None  # as PS3.6 writes it: 1, 2, 1-n, 0-1, 3-4, 2-n ...


@dataclass(frozen=True)
class Method:
    """What one profile layer adds to (0012,0063) and, with a code, to (0012,0064)."""

    label: str
    code: str | None = None
    meaning: str | None = None


@dataclass(frozen=True)
class ProfileDoc:
    """One profile file, validated."""

    name: str
    kind: str  # "profile" or "option"
    path: Path
    builtin: bool
    description: str = ""
    extends: tuple[str, ...] = ()
    method: Method | None = None
    settings: dict[str, Action] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    safe_private: tuple[SafePrivate, ...] = ()
    date_shift_days: tuple[int, int] | None = None
    age_cap_years: int | None = None


DEFAULT_DATE_SHIFT_DAYS = (-3650, -1)
"""Modified dates move each patient 1 to 3650 days into the past unless a profile says otherwise."""

SETTINGS_DEFAULTS: dict[str, Action] = {
    "default": Action.K,
    "unlisted_uids": Action.K,
    "unlisted_dates": Action.K,
    "unlisted_names": Action.K,
}


@dataclass(frozen=True)
class CompiledProfile:
    """The layers of a run merged into lookup tables.

    See profiles/README.md, 'How layers combine'.
    """

    layers: tuple[ProfileDoc, ...]
    exact: dict[int, Rule]
    creator_masks: tuple[Rule, ...]
    masks: tuple[Rule, ...]
    private_rule: Rule | None
    default: Action
    unlisted_uids: Action
    unlisted_dates: Action
    unlisted_names: Action
    safe_private: tuple[SafePrivate, ...]
    date_shift_days: tuple[int, int] = DEFAULT_DATE_SHIFT_DAYS
    age_cap_years: int | None = None

    effective: frozenset[str] = frozenset()
    """Names of the layers that still decide something after later layers overrode theirs."""

    setting_sources: dict[str, str] = field(default_factory=dict)
    """For each of ``default``, ``unlisted_uids``, ``unlisted_dates``, ``unlisted_names``: the
    layer that set it (absent when no layer did and the built-in default applies); ``explain``
    names it."""

    @property
    def methods(self) -> tuple[Method, ...]:
        """One method per layer that actually acts: a layer whose every rule was overridden by a
        later layer did not run, so its label would not describe what was done."""
        return tuple(
            layer.method
            for layer in self.layers
            if layer.method is not None and layer.name in self.effective
        )

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def pseudonym_rule(self, tag: int) -> Rule | None:
        rule = self.exact.get(tag)
        return rule if rule is not None and rule.pseudonym is not None else None

    def has_layer(self, name: str) -> bool:
        return any(layer.name == name for layer in self.layers)

    def standard_rule(self, tag: int) -> Rule | None:
        """The rule for a standard (even group) element, or None for the default."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for rule in self.masks:
            assert isinstance(rule.selector, Mask)
            if rule.selector.matches(tag):
                return rule
        return None

    def private_rule_for(self, tag: int, creator: str | None) -> Rule | None:
        """The rule for a private element, given the creator of its block."""
        rule = self.exact.get(tag)
        if rule is not None:
            return rule
        for rule in self.creator_masks:
            assert isinstance(rule.selector, Mask)
            if rule.selector.matches(tag, creator):
                return rule
        for rule in self.masks:
            assert isinstance(rule.selector, Mask)
            if rule.selector.matches(tag):
                return rule
        return self.private_rule

    def safe_private_entry(self, tag: int, creator: str | None) -> SafePrivate | None:
        for entry in self.safe_private:
            if entry.mask.matches(tag, creator):
                return entry
        return None


def compile_layers(layers: tuple[ProfileDoc, ...]) -> CompiledProfile:
    """Merge ``layers`` in order: for one selector a later layer replaces an earlier one."""
    by_key: dict[str, Rule] = {}
    settings = dict(SETTINGS_DEFAULTS)
    setting_source: dict[str, str] = {}
    safe: dict[str, SafePrivate] = {}
    for layer in layers:
        for rule in layer.rules:
            by_key.pop(rule.key, None)  # re-insert so order follows the latest layer
            by_key[rule.key] = rule
        settings.update(layer.settings)
        setting_source.update({key: layer.name for key in layer.settings})
        for entry in layer.safe_private:
            safe[selector_text(entry.mask)] = entry
    exact: dict[int, Rule] = {}
    creator_masks: list[Rule] = []
    masks: list[Rule] = []
    private_rule: Rule | None = None
    for rule in by_key.values():
        if isinstance(rule.selector, int):
            exact[rule.selector] = rule
        elif isinstance(rule.selector, Mask):
            (creator_masks if rule.selector.creator else masks).append(rule)
        else:
            private_rule = rule
    effective = {rule.source for rule in by_key.values()}
    effective.update(setting_source.values())
    private_clean = any(
        rule.action is Action.C
        and (
            rule.selector == PRIVATE
            or (isinstance(rule.selector, Mask) and rule.selector.is_private)
        )
        for rule in by_key.values()
    )
    if private_clean:  # safe lists only matter where private elements are cleaned (C)
        effective.update(entry.source for entry in safe.values())
    effective.update(
        layer.name for layer in layers if not (layer.rules or layer.settings or layer.safe_private)
    )
    creator_masks.sort(key=lambda r: r.selector.wildcards if isinstance(r.selector, Mask) else 0)
    masks.sort(key=lambda r: r.selector.wildcards if isinstance(r.selector, Mask) else 0)
    return CompiledProfile(
        layers=layers,
        exact=exact,
        creator_masks=tuple(creator_masks),
        masks=tuple(masks),
        private_rule=private_rule,
        default=settings["default"],
        unlisted_uids=settings["unlisted_uids"],
        unlisted_dates=settings["unlisted_dates"],
        unlisted_names=settings["unlisted_names"],
        safe_private=tuple(safe.values()),
        date_shift_days=next(
            (x.date_shift_days for x in reversed(layers) if x.date_shift_days),
            DEFAULT_DATE_SHIFT_DAYS,
        ),
        age_cap_years=next((x.age_cap_years for x in reversed(layers) if x.age_cap_years), None),
        effective=frozenset(effective),
        setting_sources=dict(setting_source),
    )
