"""The built-in profiles as loaded before (data/builtin-profiles.json) equal their YAML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dicomscrub.profile import builtin
from dicomscrub.profile.loader import builtin_dir, builtin_names, load_document, load_profile


@pytest.mark.parametrize("name", builtin_names())
def test_each_builtin_profile_loads_as_its_yaml_reads(name: str) -> None:
    path = builtin_dir() / f"{name}.yaml"
    cached = builtin.cached_document(path)
    assert cached is not None, "stale: run python scripts/generate_profiles.py"
    assert cached == load_document(path, builtin=True)


def test_a_copy_elsewhere_names_its_own_path(tmp_path: Path) -> None:
    copy = tmp_path / "basic.yaml"
    copy.write_bytes((builtin_dir() / "basic.yaml").read_bytes())
    cached = builtin.cached_document(copy)
    assert cached is not None
    assert cached == load_document(copy, builtin=True)
    assert cached.rules[0].where.startswith(f"{copy}:")


def test_a_yaml_changed_by_hand_is_read_again(tmp_path: Path) -> None:
    text = (builtin_dir() / "basic.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "basic.yaml"
    changed.write_text(text.replace("Affected SOP Instance UID", "Affected SOP Instance UID!"))
    assert builtin.cached_document(changed) is None


def test_an_entry_that_does_not_decode_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    path = builtin_dir() / "basic.yaml"
    entry = dict(builtin._profiles()["basic"])
    entry["rules"] = [["00100010", "NOT-AN-ACTION", 1, None, None, None]]
    monkeypatch.setattr(builtin, "_profiles", lambda: {"basic": entry})
    assert builtin.cached_document(path) is None
    read = load_profile("basic")  # (read from the YAML instead)
    assert read.layers == (load_document(path, builtin=True),)
    assert len(read.exact) > 500


def test_a_file_of_another_format_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtin.resources.files

    class Other:
        def __truediv__(self, _: str) -> Other:
            return self

        def read_text(self, _: str) -> str:
            return json.dumps({"format": builtin.FORMAT + 1, "profiles": {"basic": {}}})

    builtin._profiles.cache_clear()
    monkeypatch.setattr(builtin.resources, "files", lambda _: Other())
    try:
        assert builtin._profiles() == {}
        assert builtin.cached_document(builtin_dir() / "basic.yaml") is None
    finally:
        monkeypatch.setattr(builtin.resources, "files", real)
        builtin._profiles.cache_clear()


def test_the_file_holds_every_builtin_profile() -> None:
    data = json.loads(
        (Path(builtin.__file__).parent.parent / "data" / "builtin-profiles.json").read_text()
    )
    assert data["format"] == builtin.FORMAT
    assert set(data["profiles"]) == set(builtin_names())


def test_a_builtin_profile_is_loaded_without_the_yaml_library() -> None:
    code = (
        "import sys\n"
        "from dicomscrub.profile.loader import load_profile\n"
        "compiled = load_profile('basic', ('retain-safe-private', 'retain-uids'))\n"
        "print(len(compiled.exact), 'yaml.reader' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert int(out[0]) > 500
    assert out[1] == "False"


def test_a_user_profile_still_loads_from_yaml(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "name: mine\nextends: basic\nrules:\n  - keyword: PatientSex\n    action: K\n",
        encoding="utf-8",
    )
    compiled = load_profile(str(mine))
    assert compiled.names == ("basic", "mine")
    assert compiled.exact[0x00100040].where == f"{mine}:4"
