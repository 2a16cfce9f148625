"""Overclustering analysis over k, on cached CAUSE-shaped features and DINOv2-shaped tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels import cityscapes as cs
from pseudo_labels import features, overclustering_cause
from pseudo_labels.fileio import write_json, write_npy, write_png
from pseudo_labels.manifest import record_source, source_fingerprint
from pseudo_labels.synthetic import write_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic val images with features that encode their GT class (plus noise), in both layouts.

    The GT is replaced by eight vertical bands of one class each, so every class
    holds an eighth of the sampled patches: with classes of a handful of patches,
    MiniBatchKMeans' centre reassignment depends on the CPU's BLAS kernels.
    """
    root = tmp_path_factory.mktemp("over")
    write_dataset(root, "val", num_images=2, seed=6, size=(64, 128), show_progress=False)
    rng = np.random.default_rng(0)
    class_vectors = rng.standard_normal((256, 768)).astype(np.float32)
    labels = cs.label_ids_paths(root, "val")
    band_label_ids = np.array([7, 8, 11, 17, 21, 23, 24, 26], dtype=np.uint8)  # road ... car
    for index, (key, path) in enumerate(cs.image_paths(root, "val").items()):
        bands = np.roll(band_label_ids, index)[np.arange(128) // 16]
        write_png(labels[key], np.broadcast_to(bands, (64, 128)).copy())
        train_ids = cs.load_train_ids(labels[key])
        size = features.working_size(64, 128)
        offsets = features.window_grid(size)
        maps = np.stack([class_vectors[cs.resize_nearest(train_ids, (23, 23))][:, :, :90].transpose(2, 0, 1)
                         for _ in offsets]).astype(np.float32)
        entry = write_npy(root / "cache" / "val" / f"{key}.npy", maps + 0.01 * rng.standard_normal(maps.shape).astype(np.float32))
        record_source(entry, source_fingerprint(path))  # as generate_overclustered_semantics.py does
        tokens = class_vectors[cs.resize_nearest(train_ids, (32, 64))].reshape(-1, 768)
        tokens = tokens + 0.05 * rng.standard_normal(tokens.shape).astype(np.float32)  # no duplicate points
        write_npy(root / "dino" / "val" / f"{key}.npy", tokens.astype(np.float16))
    write_json(root / "dino" / "val" / "metadata.json", {"h_patches": 32, "w_patches": 64})
    return root


def test_analysis_of_both_sources(data: Path) -> None:
    out = data / "over.json"
    assert overclustering_cause.main(["--cityscapes_root", str(data), "--cause_cache", str(data / "cache"),
                                      "--dinov2_subdir", "dino", "--k_values", "3,12", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["results"]) == {"CAUSE (90-d)", "DINOv2 (768-d)"}
    dino = result["results"]["DINOv2 (768-d)"]
    assert dino["12"]["mIoU"] > 90 and dino["12"]["mIoU"] >= dino["3"]["mIoU"]  # class-coded tokens separate
    assert "| DINOv2 (768-d) | 12 |" in out.with_suffix(".md").read_text()


def test_needs_a_source(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        overclustering_cause.main(["--cityscapes_root", str(data)])
    assert info.value.code == 2 and "--cause_cache" in capsys.readouterr().err
