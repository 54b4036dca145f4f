"""The generated profiles match their generator and hold the expected rows of Table E.1-1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STANDARD = REPO.parent / "shared" / "standard"
PROFILES = REPO / "profiles"


def load(name: str) -> dict[str, Any]:
    with (PROFILES / f"{name}.yaml").open(encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    assert isinstance(doc, dict)
    return doc


def rules_by_tag(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["tag"]: rule for rule in doc["rules"]}


@pytest.mark.skipif(
    not STANDARD.is_dir(),
    reason=f"the PS3.15 source tables are not available at {STANDARD}",
)
def test_committed_files_match_generator() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_profiles.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_basic_profile_rows() -> None:
    doc = load("basic")
    assert doc["name"] == "basic"
    assert doc["kind"] == "profile"
    assert doc["method"] == {"label": "Basic Application Confidentiality Profile", "code": "113100"}
    assert doc["settings"] == {
        "default": "K",
        "unlisted_uids": "U",
        "unlisted_dates": "X/Z",
        "unlisted_names": "X/Z",
    }
    assert len(doc["rules"]) == 657  # the table's 655 rows and 2 dicomscrub adds (below)
    rules = rules_by_tag(doc)
    assert len(rules) == 657  # no tag twice
    assert rules["(0010,0010)"] == {"tag": "(0010,0010)", "action": "Z", "name": "Patient's Name"}
    assert rules["(0010,0020)"]["action"] == "Z/D"
    assert rules["(0008,1140)"]["action"] == "X/Z/U*"
    assert rules["private"] == {"tag": "private", "action": "X", "name": "Private Attributes"}
    assert rules["(60xx,3000)"]["action"] == "X"
    assert rules["(50xx,xxxx)"]["action"] == "X"
    assert rules["(60xx,4000)"]["action"] == "X"
    # not in Table E.1-1: a birth or death date in another calendar is removed as a date of birth
    assert rules["(0010,0033)"]["action"] == rules["(0010,0034)"]["action"] == "X"


def test_retain_long_modified_dates_cleans_169_attributes() -> None:
    doc = load("retain-long-modified-dates")
    assert doc["kind"] == "option"
    assert doc["method"]["code"] == "113107"
    assert doc["settings"] == {"unlisted_dates": "C"}
    assert len(doc["rules"]) == 169
    assert {rule["action"] for rule in doc["rules"]} == {"C"}


def test_retain_safe_private_lists_table_e3_10_1() -> None:
    doc = load("retain-safe-private")
    assert doc["rules"] == [{"tag": "private", "action": "C", "name": "Private Attributes"}]
    entries = doc["safe_private"]
    assert len(entries) == 479
    assert entries[0]["tag"] == "(7053,xx00)"
    assert entries[0]["creator"] == "Philips PET Private Group"
    assert entries[0]["vr"] == "DS"


def test_retain_uids_keeps_unlisted_uids() -> None:
    doc = load("retain-uids")
    assert doc["settings"] == {"unlisted_uids": "K"}
    assert len(doc["rules"]) == 60
    assert {rule["action"] for rule in doc["rules"]} == {"K"}
