"""Overclustering analysis over k, on cached CAUSE-shaped features and DINOv2-shaped tokens."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import features
from pseudo_labels.cli import overclustering as overclustering_cause
from pseudo_labels.core.fileio import write_json, write_npy, write_png
from pseudo_labels.core.manifest import record_source, source_fingerprint
from pseudo_labels.data.synthetic import write_dataset


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


def test_without_a_cache_missing_weights_exit_2(data: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        overclustering_cause.main(["--cityscapes_root", str(data), "--checkpoint_dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "dinov2_vitb14_pretrain.pth: checkpoint not found" in err and "--cause_cache" in err


def test_parser_has_the_original_defaults() -> None:
    args = overclustering_cause.build_parser().parse_args(["--cityscapes_root", "R"])
    assert (args.split, args.checkpoint_dir, args.device, args.k_values, args.limit) == ("val", None, "auto",
                                                                                          "27,50,100", 0)


def test_network_features_equal_the_semantics_stage_cache(cause_release: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Without --cause_cache the network runs (random full-size weights) and gives both sources, as the original;
    its CAUSE numbers equal those from a cache that the semantics stage's own code path wrote."""
    import torch

    from pseudo_labels.semantics import cluster_maps as semantics
    from refs.cause.model import load_cause

    root = tmp_path / "data"
    write_dataset(root, "val", num_images=2, seed=5, size=(256, 512), show_progress=False)
    common = ["--cityscapes_root", str(root), "--k_values", "3,6", "--device", "cpu"]
    net_json = tmp_path / "net.json"
    assert overclustering_cause.main([*common, "--checkpoint_dir", str(cause_release), "--output", str(net_json)]) == 0
    network = json.loads(net_json.read_text())
    assert set(network["results"]) == {"CAUSE (90-d)", "DINOv2 (768-d)"} and network["images"] == 2
    assert network["sources"]["DINOv2 (768-d)"].startswith("backbone tokens")
    images = cs.image_paths(root, "val")
    settings = semantics.ExtractSettings(torch.device("cpu"), cache=tmp_path / "cache")
    list(semantics.image_windows(load_cause(cause_release), "val", list(images), list(images.values()), settings, "x"))
    cache_json = tmp_path / "cache.json"
    assert overclustering_cause.main([*common, "--cause_cache", str(tmp_path / "cache"), "--output",
                                      str(cache_json)]) == 0
    cached = json.loads(cache_json.read_text())
    assert set(cached["results"]) == {"CAUSE (90-d)"}
    assert cached["results"]["CAUSE (90-d)"] == network["results"]["CAUSE (90-d)"]
    with pytest.raises(SystemExit) as info:  # more clusters than sampled vectors: the source and the fix named
        overclustering_cause.main([*common[:2], "--k_values", "100000", "--device", "cpu", "--cause_cache",
                                   str(tmp_path / "cache"), "--output", str(tmp_path / "big.json")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"cache {tmp_path / 'cache'}" in err and "fewer than k = 100000" in err, err
    assert not (tmp_path / "big.json").exists()


def test_pooling_tokens_in_channel_slices_equals_one_pass() -> None:
    rng = np.random.default_rng(0)
    windows = features.Windows(rng.standard_normal((3, 200, 23, 23)).astype(np.float32), (0, 0, 0), (0, 161, 322),
                               (322, 644))
    assert np.array_equal(features.pooled_patch_features(windows, channels_per_pass=64),
                          features.patch_features(features.full_resolution(windows)))
