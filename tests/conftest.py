"""Shared fixtures: the ``../shared`` folder (skipped with a reason when absent) and a small synthetic dataset."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from pseudo_labels.data.synthetic import write_dataset
from refs.random_release import write_cause_release

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
"""Property tests draw the same examples on every run (a CI result means the same thing twice);
``HYPOTHESIS_PROFILE=explore`` draws new ones, to look for cases the fixed draw misses."""

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` beside the repository (golden fixtures, DESIGN.md); skip when it is not there."""
    if not (SHARED_DIR / "golden").is_dir():
        pytest.skip(f"{SHARED_DIR}/golden is absent: the parity fixtures live beside the repository in CI")
    return SHARED_DIR


@pytest.fixture(scope="session")
def synthetic_val(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small synthetic val images (256x512) with depth and a k=24 raw-cluster prediction."""
    root = tmp_path_factory.mktemp("synthetic_val")
    write_dataset(root, "val", num_images=3, seed=7, size=(256, 512), num_clusters=24, show_progress=False)
    return root


@pytest.fixture(scope="session")
def cause_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random full-size CAUSE weights as the release's three files (plus the unused Segment_TR groups).

    Read-only: tests that need a damaged release copy it first.
    """
    return write_cause_release(tmp_path_factory.mktemp("cause_release"), seed=0)
