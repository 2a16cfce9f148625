"""CAUSE-27 baseline: probe, centre crop, Hungarian matching and the command (random full-size weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

from pseudo_labels import cause27
from pseudo_labels import cityscapes as cs
from pseudo_labels import generate_semantic_pseudolabels_cause as cli
from pseudo_labels.synthetic import write_dataset
from refs.cause.model import ClusterProbe, load_cluster_probe


def test_hungarian_recovers_a_permutation() -> None:
    rng = np.random.default_rng(0)
    permutation = rng.permutation(27)
    counts = np.zeros((27, 27), np.int64)
    counts[np.arange(27), permutation] = 100  # cluster i is class permutation[i]
    counts += rng.integers(0, 2, (27, 27))  # about 0.5 px of confusion per cell
    mapping = cause27.hungarian(counts)
    assert mapping["cluster_to_class"] == permutation.tolist()
    assert 70 < mapping["miou_27class"] < 100


def test_centre_crop_matches_torchvision_geometry() -> None:
    labels = np.arange(100 * 200, dtype=np.int32).reshape(100, 200)
    crop = cause27.centre_crop(labels.astype(np.uint16), 50)
    assert crop.shape == (50, 50)
    full = cs.resize_nearest(labels, (50, 100))
    assert np.array_equal(crop, full[:, 25:75])


def test_probe_is_log_softmax_of_scaled_cosine() -> None:
    probe = ClusterProbe()
    with torch.no_grad():
        probe.cluster_probe.copy_(torch.eye(27, 90))
    maps = torch.zeros(1, 90, 1, 1)
    maps[0, 4] = 2.0
    out = probe(maps)
    assert out.shape == (1, 27, 1, 1) and out[0, :, 0, 0].argmax() == 4
    assert torch.allclose(out.exp().sum(dim=1), torch.ones(1, 1, 1))


def test_command_matches_and_generates(cause_release: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(cause_release, folder)
    torch.manual_seed(0)
    torch.save({"codebook": torch.zeros(2048, 768), "cluster_probe": torch.randn(27, 90)}, folder / "cluster_tr.pth")
    assert load_cluster_probe(folder).cluster_probe.shape == (27, 90)
    root = tmp_path / "data"
    write_dataset(root, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    out = tmp_path / "cause"
    assert cli.main(["--mode", "all", "--cityscapes_root", str(root), "--checkpoint_dir", str(folder), "--split", "val",
                     "--skip_crf", "--device", "cpu", "--output_dir", str(out)]) == 0
    mapping = json.loads((out / "hungarian_mapping.json").read_text())
    assert sorted(mapping["cluster_to_class"]) == list(range(27)) and mapping["images"] == 1
    labels = cs.read_png(next((out / "val").rglob("*.png")))
    assert labels.shape == (64, 128) and labels.max() < 27
