"""The copies of ``../shared/original_cli.json`` entries under ``tests/data/`` are current.

The contract tests read these copies, so they also run where ../shared is
absent; here each copy is compared with the shared file when it is present.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

COPIES = sorted((Path(__file__).resolve().parents[1] / "fixtures").glob("original_*cli*.json"))


def test_there_are_copies() -> None:
    assert len(COPIES) >= 3


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: path.name)
def test_the_copy_matches_the_shared_file(copy: Path, shared_dir: Path) -> None:
    shared = json.loads((shared_dir / "original_cli.json").read_text())
    kept = json.loads(copy.read_text())
    for script, entry in kept["scripts"].items():
        assert shared["scripts"][script] == entry, script
    assert [c for c in shared["commands"] if c["script"] in kept["scripts"]] == kept["commands"]
