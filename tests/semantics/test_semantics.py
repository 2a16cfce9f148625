"""k-means fitting, cluster maps and the generate_overclustered_semantics CLI (random full-size CAUSE weights)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.core.errors import InputError
from pseudo_labels.semantics import clustering
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import semantics as cli
from pseudo_labels.data.synthetic import write_dataset


# --------------------------------------------------------------------------- clustering


def test_sampler_skips_void_and_caps_per_image() -> None:
    patches = np.arange(90 * 2 * 3, dtype=np.float32).reshape(90, 2, 3)
    gt = np.full((20, 30), 255, np.uint8)
    gt[:10, :10] = 7  # only the top-left patch is not void (Pillow NEAREST to 2x3)
    sampler = clustering.FitSampler(seed=0, max_per_image=4)
    assert sampler.add(patches, gt) == 1
    vectors, labels = sampler.matrix()
    assert labels.tolist() == [7] and np.allclose(vectors[0], patches[:, 0, 0] / np.linalg.norm(patches[:, 0, 0]))
    free = clustering.FitSampler(seed=0, label_free=True, max_per_image=4)
    assert free.add(patches, None) == 4 and set(free.matrix()[1].tolist()) == {255}
    with pytest.raises(InputError, match="4 feature vectors sampled from 1 fitting images, fewer than k = 5"):
        clustering.fit(free, 5)  # more clusters than vectors: one message, not a traceback from k-means


def test_sampler_draws_like_one_shared_random_state() -> None:
    rng = np.random.RandomState(42)
    patches = np.random.default_rng(0).random((90, 50, 60)).astype(np.float32)
    sampler = clustering.FitSampler(seed=42)
    gt = np.zeros((50, 60), np.uint8)
    sampler.add(patches, gt)
    sampler.add(patches, gt)
    first = rng.choice(3000, 2000, replace=False)
    second = rng.choice(3000, 2000, replace=False)
    rows = patches.reshape(90, -1).T
    assert np.array_equal(sampler.vectors[0], rows[first].astype(np.float64))
    assert np.array_equal(sampler.vectors[1], rows[second].astype(np.float64))


def test_majority_vote_and_mapped_classes() -> None:
    assignment = np.array([0, 0, 1, 1, 1, 2])
    labels = np.array([5, 5, 13, 11, 13, 255], np.uint8)
    assert clustering.majority_classes(assignment, labels, 3).tolist() == [5, 13, 0]
    logits = torch.tensor([[[0.9]], [[0.2]], [[0.95]]])  # clusters 0 and 2 -> class 5, 1 -> class 13
    assert clustering.classes_from_clusters(logits, np.array([5, 13, 5], np.uint8)).tolist() == [[5]]
    negative = -torch.ones(3, 1, 1)  # a class without clusters must not win with a default logit
    assert clustering.classes_from_clusters(negative, np.array([5, 13, 5], np.uint8)).tolist() == [[5]]


def _blobs(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((5, 90)) * 4
    points = np.concatenate([c + rng.standard_normal((200, 90)) for c in centres])
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def test_torch_kmeans_is_deterministic_and_finds_the_blobs() -> None:
    points = _blobs()
    a = clustering.fit_torch(points, 5, seed=3, n_init=2)
    b = clustering.fit_torch(points, 5, seed=3, n_init=2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert sorted(np.bincount(a[1]).tolist()) == [200] * 5
    _, _, minibatch_inertia = clustering.fit_minibatch(points, 5, seed=3)
    assert a[2] <= minibatch_inertia * 1.001


# --------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def release(cause_release: Path) -> Path:
    """Random full-size CAUSE weights in the official flat layout (shared, read-only)."""
    return cause_release


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(root, "val", num_images=2, seed=4, size=(64, 128), show_progress=False)
    write_dataset(root, "train", num_images=1, seed=5, size=(64, 128), show_progress=False)
    return root


def _argv(root: Path, release: Path, *extra: str) -> list[str]:
    return ["--cityscapes_root", str(root), "--checkpoint_dir", str(release), "--device", "cpu", "--skip_crf",
            "--num_workers", "0", "--k", "6", *extra]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def test_fit_assign_cache_and_rerun_identical(dataset: Path, release: Path, tmp_path: Path) -> None:
    out = dataset / "pseudo_semantic_raw_k6"
    cache = tmp_path / "cache"
    assert cli.main(_argv(dataset, release, "--split", "val", "--raw_clusters", "--feature_cache", str(cache),
                          "--batch_size", "2")) == 0
    with np.load(out / "kmeans_centroids.npz") as npz:
        assert npz["centroids"].shape == (6, 90) and np.allclose(np.linalg.norm(npz["centroids"], axis=1), 1, atol=1e-7)
        assert npz["cluster_to_class"].shape == (6,) and bool(npz["gt_used"]) and str(npz["method"]) == "minibatch"
        assert int(npz["n_samples"]) > 6
    labels = cs.output_paths(out, "val", ".png")
    assert len(labels) == 2
    first = cs.read_png(next(iter(labels.values())))
    assert first.shape == (64, 128) and first.dtype == np.uint8 and first.max() < 6
    stats = json.loads((out / "val" / "stats.json").read_text())
    assert stats["total_images"] == 2 and sum(stats["per_class_pixels"]) == 2 * 64 * 128
    assert len(list(cache.rglob("*.npy"))) == 2
    before = _files(out)
    shutil.rmtree(out)
    assert cli.main(_argv(dataset, release, "--split", "val", "--raw_clusters", "--feature_cache", str(cache))) == 0
    assert _files(out) == before  # from the cache: byte-identical outputs and centroids


def test_train_split_with_loaded_centroids_mapped_and_label_free(dataset: Path, release: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert cli.main(_argv(dataset, release, "--split", "val", "--output_subdir", "mapped", "--feature_cache", str(cache))) == 0
    mapped = cs.read_png(next(iter(cs.output_paths(dataset / "mapped", "val", ".png").values())))
    assert mapped.max() < 19
    centroids = dataset / "mapped" / "kmeans_centroids.npz"
    assert cli.main(_argv(dataset, release, "--split", "train", "--raw_clusters", "--output_subdir", "raw_train",
                          "--load_centroids", str(centroids))) == 0
    assert not (dataset / "raw_train" / "kmeans_centroids.npz").exists()
    assert len(cs.output_paths(dataset / "raw_train", "train", ".png")) == 1
    # label-free: no gtFine at all
    blind = tmp_path / "blind"
    shutil.copytree(dataset / "leftImg8bit", blind / "leftImg8bit")
    assert cli.main(_argv(blind, release, "--split", "val", "--raw_clusters", "--label_free", "--kmeans", "torch",
                          "--feature_cache", str(cache))) == 0
    with np.load(blind / "pseudo_semantic_raw_k6" / "kmeans_centroids.npz") as npz:
        assert (npz["cluster_to_class"] == 255).all() and not bool(npz["gt_used"]) and str(npz["method"]) == "torch"


@pytest.mark.parametrize("extra, message", [
    (("--skip_crf", "--k", "65536"), "argument --k: must be an integer in 2..65535, got 65536"),
    (("--skip_crf", "--label_free"), "add --raw_clusters"),
])
def test_bad_arguments_exit_2(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                              extra: tuple[str, ...], message: str) -> None:
    argv = ["--cityscapes_root", str(dataset), "--checkpoint_dir", str(tmp_path), "--device", "cpu", *extra]
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_bad_centroids_and_missing_checkpoint_exit_2(dataset: Path, release: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, centroids=np.zeros((6, 64)), cluster_to_class=np.zeros(6, np.uint8))
    with pytest.raises(SystemExit) as info:
        cli.main(_argv(dataset, release, "--raw_clusters", "--load_centroids", str(wrong)))
    assert info.value.code == 2 and "wrong.npz: 'centroids' must be (k, 90)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(_argv(dataset, tmp_path, "--raw_clusters"))
    assert info.value.code == 2 and "dinov2_vitb14_pretrain.pth: checkpoint not found" in capsys.readouterr().err


def test_original_centroid_file_loads(shared_dir: Path) -> None:
    from pseudo_labels.formats.centroids import load_centroid_file

    centroids, table = load_centroid_file(shared_dir / "golden" / "kmeans_centroids_k80.npz", need_classes=True)
    assert centroids.shape == (80, 90) and table.shape == (80,) and table.max() <= 18


def test_k_above_255_writes_16_bit_cluster_maps(dataset: Path, release: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centroids = rng.standard_normal((300, 90))
    many = tmp_path / "many.npz"
    np.savez(many, centroids=centroids / np.linalg.norm(centroids, axis=1, keepdims=True),
             cluster_to_class=rng.integers(0, 19, 300).astype(np.uint8))
    argv = [a for a in _argv(dataset, release, "--split", "val", "--load_centroids", str(many)) if a != "6"]
    argv[argv.index("--k") + 1:argv.index("--k") + 1] = ["300"]
    assert cli.main([*argv, "--raw_clusters", "--output_subdir", "raw300"]) == 0
    raw = cs.read_png(next(iter(cs.output_paths(dataset / "raw300", "val", ".png").values())))
    assert raw.dtype == np.uint16 and raw.max() < 300
    assert cli.main([*argv, "--output_subdir", "mapped300"]) == 0  # mapped output: trainIds, 8-bit, for any k
    mapped = cs.read_png(next(iter(cs.output_paths(dataset / "mapped300", "val", ".png").values())))
    assert mapped.dtype == np.uint8 and mapped.max() < 19


def test_torchrun_two_ranks_write_what_one_process_writes(dataset: Path, release: Path) -> None:
    """Fitting gathers the samples on rank 0 in image order; assignment is split by rank; same bytes as one process."""
    import os
    import subprocess
    import sys

    script = Path(cli.__file__).parents[1] / "generate_overclustered_semantics.py"  # the original path
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args = _argv(dataset, release, "--split", "val", "--raw_clusters")
    subprocess.run([sys.executable, str(script), *args, "--output_subdir", "one_rank"], check=True, env=env,
                   capture_output=True)
    torchrun = Path(sys.executable).parent / "torchrun"
    subprocess.run([str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), *args,
                    "--output_subdir", "two_ranks"], check=True, env=env, capture_output=True)
    one, two = _files(dataset / "one_rank"), _files(dataset / "two_ranks")
    assert len([name for name in one if name.endswith(".png")]) == 2 and one == two
    assert json.loads((dataset / "two_ranks" / "val" / "manifest.json").read_text())["ranks"] == 2


def test_resume_and_cache_recompute_changed_images(dataset: Path, release: Path, tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """An image edited between runs gets new cached features and a new label map; the others are kept."""
    from PIL import Image

    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    cache = tmp_path / "cache"
    resume = _argv(root, release, "--split", "val", "--raw_clusters", "--feature_cache", str(cache), "--output_subdir", "a")
    assert cli.main(resume) == 0
    images = cs.image_paths(root, "val")
    changed, same = sorted(images)
    entries = {key: cache / "val" / f"{key}.npy" for key in images}
    stamps = {key: entries[key].stat().st_mtime_ns for key in images}
    Image.fromarray(np.asarray(Image.open(images[changed]))[:, ::-1].copy()).save(images[changed])
    with caplog.at_level("INFO"):
        assert cli.main(resume) == 0
    assert "1 label maps were made from other inputs" in caplog.text
    assert entries[changed].stat().st_mtime_ns != stamps[changed] and entries[same].stat().st_mtime_ns == stamps[same]
    fresh = _argv(root, release, "--split", "val", "--raw_clusters", "--output_subdir", "b",
                  "--load_centroids", str(root / "a" / "kmeans_centroids.npz"))
    assert cli.main(fresh) == 0  # no cache: computed from today's images
    for key in images:
        assert np.array_equal(cs.read_png(cs.output_path(root / "a", "val", key, ".png")),
                              cs.read_png(cs.output_path(root / "b", "val", key, ".png")))


def test_a_folder_of_photos_is_labelled_without_ground_truth(release: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--layout folder: nested png/jpg of two sizes, a label-free fit on them, label maps at each frame's size."""
    from PIL import Image

    photos = tmp_path / "photos"
    (photos / "day").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (330, 500, 3), np.uint8)).save(photos / "day" / "a.jpg")
    Image.fromarray(rng.integers(0, 255, (400, 340, 3), np.uint8)).save(photos / "b.png")
    out = tmp_path / "out"
    base = ["--cityscapes_root", str(out), "--checkpoint_dir", str(release), "--device", "cpu", "--skip_crf",
            "--num_workers", "0", "--k", "4", "--layout", "folder", "--image_root", str(photos), "--split", "train"]
    with pytest.raises(SystemExit) as info:  # no GT to name clusters by
        cli.main(base)
    assert info.value.code == 2 and "--raw_clusters --label_free" in capsys.readouterr().err
    assert cli.main([*base, "--raw_clusters", "--label_free"]) == 0
    labels = cs.output_paths(out / "pseudo_semantic_raw_k4", "train", ".png")
    assert list(labels) == ["b", "day/a"]
    assert cs.read_png(labels["day/a"]).shape == (330, 500) and cs.read_png(labels["b"]).shape == (400, 340)
    with pytest.raises(SystemExit):  # outputs inside the photos: refused before anything is written
        cli.main([*base, "--raw_clusters", "--label_free", "--cityscapes_root", str(photos)])
    # transfer: Cityscapes' published k=80 clusters on these photos, then exported for CUPS through their classes
    from pseudo_labels.cli import cups as cups_cli
    from pseudo_labels.data.published import verified_centroids_k80_path

    assert cli.main([*base, "--raw_clusters", "--load_centroids", "published", "--k", "80"]) == 0
    transferred = cs.output_paths(out / "pseudo_semantic_raw_k80", "train", ".png")
    assert {k: cs.read_png(p).shape for k, p in transferred.items()} == {"b": (400, 340), "day/a": (330, 500)}
    assert max(int(cs.read_png(p).max()) for p in transferred.values()) < 80
    assert cups_cli.main(["--cityscapes_root", str(out), "--semantic_subdir", "pseudo_semantic_raw_k80",
                          "--centroids_path", str(verified_centroids_k80_path()), "--num_classes", "80",
                          "--cc_instances", "--layout", "folder", "--image_root", str(photos)]) == 0
    assert (out / "leftImg8bit_sequence" / "train" / "day" / "day_000000_000000_leftImg8bit.png").is_symlink()
    assert cs.read_png(out / "cups_pseudo_labels" / "frames_000000_000000_leftImg8bit_semantic.png").shape == (250, 212)
