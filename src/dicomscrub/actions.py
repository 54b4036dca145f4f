"""The PS3.15 E.1.1 action codes and how dicomscrub resolves compound codes.

The compound codes choose by the attribute's Type in the IOD (for example X/Z/D: X if Type 3, Z if
Type 2, D if Type 1). dicomscrub does not carry the module tables, so it applies one rule that keeps
every object valid whatever the Type is:

* on an element that is not a sequence: D if the code allows D, otherwise Z (X/Z, Z/D -> D, ...);
* on a sequence: Z (no items) if the code allows Z, otherwise D (one empty item);
* X/Z/U*: the sequence is kept and every instance UID inside it is replaced as by U (an element
  that is neither a sequence nor a UID is emptied).

So a compound code never removes an element; it empties or dummies it.
"""

from __future__ import annotations

import enum


class Action(str, enum.Enum):
    """An action code of PS3.15 Table E.1-1 (and E.1-1a)."""

    D = "D"
    Z = "Z"
    X = "X"
    K = "K"
    C = "C"
    U = "U"
    Z_D = "Z/D"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    X_Z_U = "X/Z/U*"

    @property
    def is_compound(self) -> bool:
        return "/" in self.value

    def describe(self) -> str:
        return DESCRIPTIONS[self]


class Effect(str, enum.Enum):
    """What is actually done to one element once a compound code is resolved."""

    DUMMY = "dummy"  # D
    EMPTY = "empty"  # Z
    REMOVE = "remove"  # X
    KEEP = "keep"  # K
    CLEAN = "clean"  # C
    UID = "uid"  # U
    KEEP_REPLACE_UIDS = "keep-replace-uids"  # X/Z/U*


DESCRIPTIONS: dict[Action, str] = {
    Action.D: "replace with a non-empty dummy value valid for the VR and VM",
    Action.Z: "replace with a zero-length value (a sequence with no items)",
    Action.X: "remove",
    Action.K: "keep (a kept sequence is still cleaned inside)",
    Action.C: "clean (see README: text scrubbed of this file's identifying values, dates shifted)",
    Action.U: "replace the UID by 2.25.<integer> from a keyed HMAC of the original",
    Action.Z_D: "compound: dummy value (a sequence becomes empty)",
    Action.X_Z: "compound: zero-length value",
    Action.X_D: "compound: dummy value (a sequence gets one empty item)",
    Action.X_Z_D: "compound: dummy value (a sequence becomes empty)",
    Action.X_Z_U: "compound: keep the sequence, replace every instance UID inside it",
}


def resolve(action: Action, is_sequence: bool) -> Effect:
    """Resolve ``action`` for one element; see the module docstring for the compound rule."""
    simple = {
        Action.D: Effect.DUMMY,
        Action.Z: Effect.EMPTY,
        Action.X: Effect.REMOVE,
        Action.K: Effect.KEEP,
        Action.C: Effect.CLEAN,
        Action.U: Effect.UID,
        Action.X_Z_U: Effect.KEEP_REPLACE_UIDS,
    }
    if action in simple:
        return simple[action]
    codes = action.value.split("/")
    if is_sequence:
        return Effect.EMPTY if "Z" in codes else Effect.DUMMY
    return Effect.DUMMY if "D" in codes else Effect.EMPTY


def on_vr(effect: Effect, vr: str) -> Effect:
    """``effect`` as it can be done on an element of VR ``vr``. A new UID is made from a UID (UI,
    or UN: its bytes read as text): U on anything else (a rule on a mask or on private elements
    that reaches a number, a name, a date) removes the element, as a declared U on a private
    element that holds no UID does, and X/Z/U* empties it (it keeps sequences: see above)."""
    if effect is Effect.UID and vr not in ("UI", "UN"):
        return Effect.REMOVE
    if effect is Effect.KEEP_REPLACE_UIDS and vr not in ("UI", "UN", "SQ"):
        return Effect.EMPTY
    return effect


ACTION_CODES = [a.value for a in Action]
