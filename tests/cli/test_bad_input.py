"""Bad input, command by command: exit status 2, one message naming the file and the fix, no output for it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import cups as convert_to_cups_format
from pseudo_labels.cli import depth as generate_depth_spidepth
from pseudo_labels.cli import instances as generate_depth_guided_instances
from pseudo_labels.cli import panoptic as generate_panoptic_pseudolabels
from pseudo_labels.cli import remap_clusters as remap_raw_clusters_to_trainid
from pseudo_labels.cli import semantics as generate_overclustered_semantics
from pseudo_labels.cli import stuff_things as classify_stuff_things
from pseudo_labels.cli import sweep as sweep_k50_spidepth
from pseudo_labels.cli import evaluate_cascade as evaluate_cascade_pseudolabels, evaluate_panoptic
from pseudo_labels.data.synthetic import write_dataset

RAW = "pseudo_semantic_raw_k24"
RELEASE_FILES = ("dinov2_vitb14_pretrain.pth", "segment_tr.pth", "modular.npy")  # the CAUSE release
IMAGE_ID = r"[a-z]+_\d{6}_\d{6}"  # city_sequence_frame, as in every per-image file name


@pytest.fixture(scope="module")
def clean(cause_release: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    write_dataset(root, "val", num_images=2, seed=21, size=(128, 256), num_clusters=24, show_progress=False)
    # a wrong-architecture CAUSE release: the head's projection has the wrong width
    for name in ("dinov2_vitb14_pretrain.pth", "modular.npy"):
        (root / name).symlink_to(cause_release / name)
    head = torch.load(cause_release / "segment_tr.pth", weights_only=True)
    head["head_ema.tr.f1.weight"] = torch.zeros(64, 768, 1, 1)
    torch.save(head, root / "segment_tr.pth")
    return root


def _first(root: Path, pattern: str) -> Path:
    return sorted(root.rglob(pattern))[0]


def corrupt_png(root: Path) -> str:
    path = _first(root / RAW / "val", "*.png")
    path.write_bytes(path.read_bytes()[:60])
    return path.name


def nan_depth(root: Path) -> str:
    path = _first(root / cs.DEPTH_SUBDIR / "val", "*.npy")
    depth = np.load(path)
    depth[0, 0] = np.inf
    np.save(path, depth)
    return path.name


def three_d_depth(root: Path) -> str:
    path = _first(root / cs.DEPTH_SUBDIR / "val", "*.npy")
    np.save(path, np.zeros((2, 4, 4), np.float32))
    return path.name


def no_cluster_to_class(root: Path) -> str:
    path = root / RAW / "kmeans_centroids.npz"
    with np.load(path) as npz:
        centroids = npz["centroids"]
    np.savez(path, centroids=centroids)
    return "kmeans_centroids.npz"


def wrong_width_centroids(root: Path) -> str:
    np.savez(root / "wrong.npz", centroids=np.zeros((8, 64)), cluster_to_class=np.zeros(8, np.uint8))
    return "wrong.npz"


def missing_depth(root: Path) -> str:
    path = _first(root / cs.DEPTH_SUBDIR / "val", "*.npy")
    path.unlink()
    return path.name


def zero_byte_depth(root: Path) -> str:
    path = _first(root / cs.DEPTH_SUBDIR / "val", "*.npy")
    path.write_bytes(b"")
    return path.name


def truncated_depth(root: Path) -> str:
    path = _first(root / cs.DEPTH_SUBDIR / "val", "*.npy")
    path.write_bytes(path.read_bytes()[:200])
    return path.name


def zero_byte_centroids(root: Path) -> str:
    (root / RAW / "kmeans_centroids.npz").write_bytes(b"")
    return "kmeans_centroids.npz"


def truncated_centroids(root: Path) -> str:
    path = root / RAW / "kmeans_centroids.npz"
    path.write_bytes(path.read_bytes()[:300])
    return "kmeans_centroids.npz"


def text_cluster_to_class(root: Path) -> str:
    path = root / RAW / "kmeans_centroids.npz"
    with np.load(path) as npz:
        centroids, table = npz["centroids"], npz["cluster_to_class"]
    np.savez(path, centroids=centroids, cluster_to_class=table.astype(str))
    return "kmeans_centroids.npz"


def nan_centroid_row(root: Path) -> str:
    centroids = np.eye(4, 90, dtype=np.float32)
    centroids[2] = np.nan
    np.savez(root / "nan.npz", centroids=centroids, cluster_to_class=np.zeros(4, np.uint8))
    return "nan.npz"


def rgb_semantic_png(root: Path) -> str:
    from PIL import Image

    path = _first(root / RAW / "val", "*.png")
    ids = np.asarray(Image.open(path))
    Image.fromarray(np.stack([ids] * 3, axis=2)).save(path)
    return path.name


def one_pixel_id_200(root: Path) -> str:
    path = _first(root / RAW / "val", "*.png")
    ids = cs.read_png(path)
    ids[5, 7] = 200  # k = 24: a stray id at one full-resolution pixel
    from pseudo_labels.core.fileio import write_png
    write_png(path, ids)
    return path.name


def empty_split(root: Path) -> str:
    shutil.rmtree(root / "leftImg8bit" / "val")
    (root / "leftImg8bit" / "val" / "frankfurt").mkdir(parents=True)
    return "split is empty"


def nothing(root: Path) -> str:
    return ""


def no_centroid_file(root: Path) -> str:
    """Raw cluster maps without the centroid file the semantics stage writes beside them (which would name them)."""
    (root / RAW / "kmeans_centroids.npz").unlink()
    return ""


def output_under_a_file(root: Path) -> str:
    (root / "blocker").write_text("a file where a folder should be")
    return "blocker"


def _semantics(root: Path, *extra: str) -> list[str]:
    return ["--cityscapes_root", str(root), "--split", "val", "--k", "4", "--skip_crf", "--raw_clusters",
            "--checkpoint_dir", str(root), "--device", "cpu", "--num_workers", "0", *extra]


CASES: list[tuple[str, Callable, Callable[[Path], str], Callable[[Path], list[str]], str]] = [
    ("sweep: corrupt cluster PNG", sweep_k50_spidepth.main, corrupt_png,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--workers", "1", "--eval_size", "64", "128",
                "--output", str(r / "out" / "s.json")], "cannot be read"),
    ("sweep: inf depth", sweep_k50_spidepth.main, nan_depth,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--workers", "1", "--eval_size", "64", "128",
                "--output", str(r / "out" / "s.json")], "NaN or inf"),
    ("sweep: depth of the wrong shape", sweep_k50_spidepth.main, three_d_depth,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--workers", "1",
                "--output", str(r / "out" / "s.json")], "HxW float array"),
    ("sweep: centroids without cluster_to_class", sweep_k50_spidepth.main, no_cluster_to_class,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "no 'cluster_to_class'"),
    ("sweep: missing depth", sweep_k50_spidepth.main, missing_depth,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "--skip_missing"),
    ("sweep: zero-byte depth", sweep_k50_spidepth.main, zero_byte_depth,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--workers", "1",
                "--output", str(r / "out" / "s.json")], "cannot be read as .npy"),
    ("sweep: zero-byte centroid file", sweep_k50_spidepth.main, zero_byte_centroids,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "cannot be read as .npz"),
    ("sweep: cluster_to_class of strings", sweep_k50_spidepth.main, text_cluster_to_class,
     lambda r: ["--cityscapes_root", str(r), "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "integer trainIds"),
    ("instances: truncated depth", generate_depth_guided_instances.main, truncated_depth,
     lambda r: ["--semantic_dir", str(r / RAW / "val"), "--depth_dir", str(r / cs.DEPTH_SUBDIR / "val"),
                "--output_dir", str(r / "out"), "--centroids_path", str(r / RAW / "kmeans_centroids.npz"),
                "--workers", "1"], "cannot be read as .npy"),
    ("instances: RGB semantic PNG", generate_depth_guided_instances.main, rgb_semantic_png,
     lambda r: ["--semantic_dir", str(r / RAW / "val"), "--depth_dir", str(r / cs.DEPTH_SUBDIR / "val"),
                "--output_dir", str(r / "out"), "--centroids_path", str(r / RAW / "kmeans_centroids.npz")],
     "map of ids must be 8-bit greyscale"),
    ("panoptic labels: RGB semantic PNG", generate_panoptic_pseudolabels.main, rgb_semantic_png,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "out",
                "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "map of ids must be 8-bit greyscale"),
    ("stuff/things: RGB semantic PNG", classify_stuff_things.main, rgb_semantic_png,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "map of ids must be 8-bit greyscale"),
    ("semantics: truncated centroid file", generate_overclustered_semantics.main, truncated_centroids,
     lambda r: _semantics(r, "--output_subdir", "out", "--load_centroids", str(r / RAW / "kmeans_centroids.npz")),
     "cannot be read as .npz"),
    ("semantics: centroids of another k", generate_overclustered_semantics.main, nothing,
     lambda r: _semantics(r, "--output_subdir", "out", "--load_centroids", str(r / RAW / "kmeans_centroids.npz")),
     "Pass --k 24"),
    ("semantics: a NaN centroid", generate_overclustered_semantics.main, nan_centroid_row,
     lambda r: _semantics(r, "--output_subdir", "out", "--load_centroids", str(r / "nan.npz")), "NaN, inf or zero"),
    ("instances: raw cluster ids as trainIds", generate_depth_guided_instances.main, no_centroid_file,
     lambda r: ["--semantic_dir", str(r / RAW / "val"), "--depth_dir", str(r / cs.DEPTH_SUBDIR / "val"),
                "--output_dir", str(r / "out")], "--centroids_path"),
    ("instances: inf depth", generate_depth_guided_instances.main, nan_depth,
     lambda r: ["--semantic_dir", str(r / RAW / "val"), "--depth_dir", str(r / cs.DEPTH_SUBDIR / "val"),
                "--output_dir", str(r / "out"), "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "NaN or inf"),
    ("cups: corrupt cluster PNG", convert_to_cups_format.main, corrupt_png,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "out",
                "--depth_instances", "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "cannot be read"),
    ("cups: one pixel of id 200 with k = 24", convert_to_cups_format.main, one_pixel_id_200,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "out",
                "--depth_instances", "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "id 200 >= "),
    ("cups: missing depth", convert_to_cups_format.main, missing_depth,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "out",
                "--depth_instances", "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "--skip_missing"),
    ("panoptic labels: raw cluster ids as trainIds", generate_panoptic_pseudolabels.main, nothing,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "out"],
     "--centroids_path"),
    ("panoptic labels: output folder under a file", generate_panoptic_pseudolabels.main, output_under_a_file,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output_subdir", "blocker/out",
                "--centroids_path", str(r / RAW / "kmeans_centroids.npz")], "writable"),
    ("stuff/things: missing depth", classify_stuff_things.main, missing_depth,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output", str(r / "out" / "s.json")],
     "depth map(s) missing"),
    ("remap: corrupt PNG", remap_raw_clusters_to_trainid.main, corrupt_png,
     lambda r: ["--input_dir", str(r / RAW / "val"), "--output_dir", str(r / "out"), "--centroids_path",
                str(r / RAW / "kmeans_centroids.npz")], "cannot be read"),
    ("cascade: raw cluster ids as trainIds", evaluate_cascade_pseudolabels.main, nothing,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--semantic_subdir", RAW, "--output", str(r / "out" / "c.json")],
     "is not a trainId"),
    ("official evaluator: missing prediction JSON", evaluate_panoptic.main, nothing,
     lambda r: ["--cityscapes_root", str(r), "--pred_json", str(r / "none.json"), "--pred_dir", str(r / "leftImg8bit"),
                "--output", str(r / "out" / "e.json")], "none.json"),
    ("semantics: wrong architecture", generate_overclustered_semantics.main, nothing,
     lambda r: _semantics(r, "--output_subdir", "out"), "tr.f1.weight"),
    ("semantics: centroids of the wrong width", generate_overclustered_semantics.main, wrong_width_centroids,
     lambda r: _semantics(r, "--output_subdir", "out", "--load_centroids", str(r / "wrong.npz")), "(k, 90)"),
    ("semantics: empty split", generate_overclustered_semantics.main, empty_split,
     lambda r: _semantics(r, "--output_subdir", "out"), "split is empty"),
    ("depth: missing checkpoint", generate_depth_spidepth.main, nothing,
     lambda r: ["--cityscapes_root", str(r), "--split", "val", "--checkpoint_dir", str(r / "nowhere"),
                "--output_dir", str(r / "out"), "--device", "cpu"], "encoder.pth"),
]


@pytest.mark.parametrize("name, main, damage, argv, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_naming_the_file(clean: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                           main: Callable, damage: Callable[[Path], str],
                                           argv: Callable[[Path], list[str]], message: str) -> None:
    root = tmp_path / "data"
    shutil.copytree(clean, root, ignore=shutil.ignore_patterns(*RELEASE_FILES))
    for name in RELEASE_FILES:  # no case damages the checkpoints: link them instead of copying 370 MB per case
        (root / name).symlink_to(clean / name)
    named = damage(root)
    before = {p for p in root.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as info:
        main(argv(root))
    assert info.value.code == 2
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr  # one message (after any progress bar)
    err = stderr[stderr.index("error: "):]  # the message may list files on following lines
    assert message in err and (named in err or not named or named == "split is empty"), err
    new = [p for p in {p for p in root.rglob("*") if p.is_file()} - before if "manifest" not in p.name]
    image = re.search(IMAGE_ID, named or "")
    if image:  # per-image stages: nothing for the bad image; other workers' finished images may stay (a re-run resumes)
        assert all(re.search(IMAGE_ID, p.name) and image.group() not in p.name for p in new), new
    else:
        assert not new, new  # no output files (a claim may be recorded)
