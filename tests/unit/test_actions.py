"""Action codes and the compound rule of actions.py: a compound code never removes an element."""

from __future__ import annotations

import pytest

from dicomscrub.actions import ACTION_CODES, DESCRIPTIONS, Action, Effect, on_vr, resolve

# (code, effect on a non-sequence, effect on a sequence), from the module docstring:
# not a sequence: D if the code allows D, else Z; a sequence: Z if the code allows Z, else D.
TABLE = [
    (Action.D, Effect.DUMMY, Effect.DUMMY),
    (Action.Z, Effect.EMPTY, Effect.EMPTY),
    (Action.X, Effect.REMOVE, Effect.REMOVE),
    (Action.K, Effect.KEEP, Effect.KEEP),
    (Action.C, Effect.CLEAN, Effect.CLEAN),
    (Action.U, Effect.UID, Effect.UID),
    (Action.Z_D, Effect.DUMMY, Effect.EMPTY),
    (Action.X_Z, Effect.EMPTY, Effect.EMPTY),
    (Action.X_D, Effect.DUMMY, Effect.DUMMY),
    (Action.X_Z_D, Effect.DUMMY, Effect.EMPTY),
    (Action.X_Z_U, Effect.KEEP_REPLACE_UIDS, Effect.KEEP_REPLACE_UIDS),
]


def test_table_covers_every_action_code() -> None:
    assert sorted(row[0].value for row in TABLE) == sorted(ACTION_CODES)


@pytest.mark.parametrize(("action", "element", "sequence"), TABLE, ids=[r[0].value for r in TABLE])
def test_resolve_on_element_and_on_sequence(
    action: Action, element: Effect, sequence: Effect
) -> None:
    assert resolve(action, is_sequence=False) is element
    assert resolve(action, is_sequence=True) is sequence


@pytest.mark.parametrize("action", [a for a in Action if a.is_compound])
def test_compound_code_never_removes(action: Action) -> None:
    assert resolve(action, is_sequence=False) is not Effect.REMOVE
    assert resolve(action, is_sequence=True) is not Effect.REMOVE


def test_only_codes_with_a_slash_are_compound() -> None:
    assert {a for a in Action if a.is_compound} == {
        Action.Z_D,
        Action.X_Z,
        Action.X_D,
        Action.X_Z_D,
        Action.X_Z_U,
    }


def test_every_action_describes_itself() -> None:
    assert set(DESCRIPTIONS) == set(Action)
    for action in Action:
        assert action.describe() == DESCRIPTIONS[action]
        assert action.describe().strip()


def test_action_codes_are_the_ps3_15_spellings() -> None:
    assert ACTION_CODES == ["D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"]


@pytest.mark.parametrize(
    ("effect", "vr", "done"),
    [
        (Effect.UID, "UI", Effect.UID),
        (Effect.UID, "UN", Effect.UID),
        (Effect.UID, "DS", Effect.REMOVE),
        (Effect.UID, "SQ", Effect.REMOVE),
        (Effect.KEEP_REPLACE_UIDS, "SQ", Effect.KEEP_REPLACE_UIDS),
        (Effect.KEEP_REPLACE_UIDS, "UI", Effect.KEEP_REPLACE_UIDS),
        (Effect.KEEP_REPLACE_UIDS, "LO", Effect.EMPTY),
        (Effect.DUMMY, "DS", Effect.DUMMY),
    ],
)
def test_a_new_uid_is_made_only_from_a_uid(effect: Effect, vr: str, done: Effect) -> None:
    assert on_vr(effect, vr) is done
