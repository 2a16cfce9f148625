"""Shared fixtures: the ``../shared`` folder (skipped with a reason when absent) and a small synthetic dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.synthetic import write_dataset
from refs.cause.model import CauseFeatures

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
    torch.manual_seed(0)
    model = CauseFeatures(torch.randn(2048, 768))
    folder = tmp_path_factory.mktemp("cause_release")
    torch.save(model.vit.state_dict(), folder / "dinov2_vitb14_pretrain.pth")
    segment_tr = {f"head_ema.{k}": v for k, v in model.head.state_dict().items()}
    segment_tr.update({"linear.weight": torch.zeros(27, 90), "head.query_pos": torch.zeros(529, 768)})
    torch.save(segment_tr, folder / "segment_tr.pth")
    np.save(folder / "modular.npy", model.head.codebook.numpy())
    return folder
