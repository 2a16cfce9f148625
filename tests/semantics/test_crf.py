"""Dense CRF: it cleans noisy labels along image edges, it is wired into both semantics commands, and without
pydensecrf those commands stop with the install hint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import crf, features, cluster_maps as semantics
from pseudo_labels.cli import semantics as overclustered
from pseudo_labels.cli import cause27 as cause_cli
from pseudo_labels.core.manifest import source_fingerprint
from pseudo_labels.data.synthetic import write_dataset

needs_pydensecrf = pytest.mark.skipif(not crf.available(), reason="pydensecrf (requirements-crf.txt) not installed; "
                                      "setup.sh installs it when a C++ compiler is present")


def _noisy_two_regions(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark left and bright right half, labels 0 / 1, and per-pixel logits that favour the truth only weakly."""
    rng = np.random.default_rng(seed)
    height, width = 48, 96
    truth = np.zeros((height, width), np.int64)
    truth[:, width // 2:] = 1
    rgb = np.where(truth[..., None] == 1, 200, 40).astype(np.uint8).repeat(3, axis=2)
    logits = rng.normal(0.0, 1.0, (3, height, width)).astype(np.float32)
    logits[truth, np.arange(height)[:, None], np.arange(width)[None, :]] += 0.6
    return rgb, torch.from_numpy(logits), truth


@needs_pydensecrf
def test_crf_cleans_noise_inside_image_regions() -> None:
    rgb, logits, truth = _noisy_two_regions(0)
    before = (logits.argmax(dim=0).numpy() == truth).mean()
    refined = crf.refined_labels(rgb, logits, scale=1.0)
    after = (refined == truth).mean()
    assert before < 0.8 and after > 0.99, (before, after)
    marginals = crf.marginals(rgb, torch.softmax(logits, dim=0).numpy())
    assert marginals.shape == (3, 48, 96) and np.allclose(marginals.sum(axis=0), 1, atol=1e-4)


@needs_pydensecrf
def test_overclustered_semantics_with_crf(cause_release: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, "val", num_images=2, seed=4, size=(64, 128), show_progress=False)
    common = ["--cityscapes_root", str(root), "--checkpoint_dir", str(cause_release), "--device", "cpu",
              "--num_workers", "0", "--k", "6", "--split", "val", "--raw_clusters",
              "--feature_cache", str(tmp_path / "cache")]
    assert overclustered.main([*common, "--skip_crf", "--output_subdir", "plain"]) == 0
    assert overclustered.main([*common, "--output_subdir", "crf",
                               "--load_centroids", str(root / "plain" / "kmeans_centroids.npz")]) == 0
    plain = cs.output_paths(root / "plain", "val", ".png")
    refined = cs.output_paths(root / "crf", "val", ".png")
    assert plain.keys() == refined.keys()
    with np.load(root / "plain" / "kmeans_centroids.npz") as npz:
        centroids = npz["centroids"]
    images = cs.image_paths(root, "val")
    changed = 0
    for key in plain:  # the written map is the CRF of softmax(5 x similarity) on the working-size image
        rgb = cs.read_rgb(images[key])
        size = features.working_size(*rgb.shape[:2])
        windows = semantics.load_cached(semantics.cache_path(tmp_path / "cache", "val", key), size,
                                        source_fingerprint(images[key]))
        assert windows is not None
        expected = semantics.label_map(windows, rgb.shape[:2], centroids, None, features.working_rgb(rgb))
        written = cs.read_png(refined[key])
        assert np.array_equal(written, expected)
        changed += int((written != cs.read_png(plain[key])).sum())
    assert changed > 0  # the CRF did move labels
    assert json.loads((root / "crf" / "val" / "manifest.json").read_text())["settings"]["crf"] is True


@needs_pydensecrf
def test_cause27_generation_with_crf(cause_release: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ckpt"
    shutil.copytree(cause_release, folder)
    torch.manual_seed(0)
    torch.save({"codebook": torch.zeros(2048, 768), "cluster_probe": torch.randn(27, 90)}, folder / "cluster_tr.pth")
    root = tmp_path / "data"
    write_dataset(root, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    out = tmp_path / "cause"
    assert cause_cli.main(["--mode", "all", "--cityscapes_root", str(root), "--checkpoint_dir", str(folder),
                           "--split", "val", "--device", "cpu", "--output_dir", str(out)]) == 0
    labels = cs.read_png(next((out / "val").rglob("*.png")))
    assert labels.shape == (64, 128) and labels.max() < 27


@pytest.mark.parametrize("main", [overclustered.main, cause_cli.main])
def test_without_pydensecrf_the_commands_say_how_to_install_it(main, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(crf, "available", lambda: False)
    write_dataset(tmp_path, "val", num_images=1, seed=1, size=(64, 128), show_progress=False)
    argv = ["--cityscapes_root", str(tmp_path), "--checkpoint_dir", str(tmp_path / "none"), "--device", "cpu"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2 and "requirements-crf.txt" in err and "--skip_crf" in err
