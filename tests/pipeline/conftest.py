"""A tiny synthetic Cityscapes with train and val, one k=24 centroid file, depth: what a run's later stages read."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pseudo_labels.data.synthetic import write_dataset

K = 24
SUBDIR = f"pseudo_semantic_raw_k{K}"


@pytest.fixture(scope="session")
def two_splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two val and two train images (256x512) with depth and a raw k=24 prediction (one seed: one centroid file)."""
    root = tmp_path_factory.mktemp("two_splits")
    for split in ("val", "train"):
        write_dataset(root, split, num_images=2, seed=5, size=(256, 512), num_clusters=K, show_progress=False)
    return root


@pytest.fixture()
def dataset(two_splits: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`two_splits` (tests write into it)."""
    return Path(shutil.copytree(two_splits, tmp_path / "R"))
