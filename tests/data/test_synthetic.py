"""The synthetic Cityscapes generator: deterministic, Cityscapes-shaped, with crowd, void and depth edges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import synthetic as synthetic_cli
from pseudo_labels.data import synthetic
from pseudo_labels.cli import main as cli_main


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    args = ["--split", "val", "--num_images", "2", "--size", "128", "256", "--with_prediction", "--k", "30"]
    assert synthetic_cli.main(["--root", str(tmp_path / "a"), "--seed", "3", *args]) == 0
    assert cli_main(["synthetic", "--root", str(tmp_path / "b"), "--seed", "3", *args]) == 0
    assert synthetic_cli.main(["--root", str(tmp_path / "c"), "--seed", "4", *args]) == 0
    a, b, c = (_tree_bytes(tmp_path / n) for n in "abc")
    assert len(a) == 2 * 5 + 2  # image, 2 GT, depth, prediction per image; centroids; dataset json
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_image_does_not_depend_on_number_of_images(tmp_path: Path) -> None:
    synthetic.write_dataset(tmp_path / "one", num_images=1, seed=5, size=(96, 192), show_progress=False)
    synthetic.write_dataset(tmp_path / "two", num_images=2, seed=5, size=(96, 192), show_progress=False)
    name = "leftImg8bit/val/frankfurt/frankfurt_000000_000019_leftImg8bit.png"
    assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_scene_content() -> None:
    scene = synthetic.make_scene(np.random.default_rng(11), 512, 1024)
    train_ids = cs.LABEL_ID_TO_TRAIN_ID[scene.label_ids]
    present = {cs.CLASS_NAMES[t] for t in np.unique(train_ids) if t != cs.IGNORE_ID}
    assert {"road", "sidewalk", "building", "vegetation", "sky", "pole", "traffic sign", "person", "car"} <= present
    assert scene.rgb.shape == (512, 1024, 3) and scene.rgb.dtype == np.uint8
    assert scene.instance_ids.dtype == np.uint16
    # void: ego hood at the bottom centre, out-of-ROI rim
    assert scene.label_ids[-3, 512] == cs.label_id("ego vehicle")
    assert (scene.label_ids[0] == cs.label_id("out of roi")).all()
    # several car and person instances; instanceIds agree with labelIds
    inst = scene.instance_ids.astype(int)
    things = inst >= cs.INSTANCE_OFFSET
    assert np.array_equal(inst[things] // 1000, scene.label_ids[things])
    assert np.array_equal(inst[~things], scene.label_ids[~things])
    cars = np.unique(inst[inst // 1000 == cs.label_id("car")])
    assert len(cars) >= 2 and len(np.unique(inst[inst // 1000 == cs.label_id("person")])) >= 2


def test_scenes_have_crowd_and_touching_instances() -> None:
    crowd = touching = 0
    for seed in range(6):
        scene = synthetic.make_scene(np.random.default_rng(seed), 256, 512)
        inst = scene.instance_ids.astype(int)
        crowd += bool((cs.IS_THING[cs.LABEL_ID_TO_TRAIN_ID[scene.label_ids]] & (inst < 1000)).any())
        # two different instances side by side somewhere
        left, right = inst[:, :-1], inst[:, 1:]
        touching += bool(((left >= 1000) & (right >= 1000) & (left != right)).any())
    assert crowd == 6 and touching >= 4


def test_depth_is_normalised_and_jumps_at_object_boundaries() -> None:
    scene = synthetic.make_scene(np.random.default_rng(2), 512, 1024)
    depth = synthetic.normalised_depth(scene.distance, (256, 512))
    assert depth.dtype == np.float32 and depth.min() == 0.0 and depth.max() == 1.0
    smoothed = ndimage.gaussian_filter(depth.astype(np.float64), 1.0)
    magnitude = np.hypot(ndimage.sobel(smoothed, 1), ndimage.sobel(smoothed, 0))
    inst = cs.resize_nearest(scene.instance_ids, (256, 512)).astype(int)
    boundary = (inst >= 1000) & ~ndimage.binary_erosion(inst >= 1000, iterations=2)
    interior = ndimage.binary_erosion(inst >= 1000, iterations=4)
    assert np.median(magnitude[boundary]) > 5 * np.median(magnitude[interior])


def test_prediction_maps_back_to_mostly_correct_classes(synthetic_val: Path) -> None:
    with np.load(synthetic_val / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz") as npz:
        cluster_to_class, centroids = npz["cluster_to_class"], npz["centroids"]
    assert centroids.shape == (24, 90) and np.allclose(np.linalg.norm(centroids, axis=1), 1)
    assert sorted(set(cluster_to_class.tolist())) == list(range(19))
    preds = cs.output_paths(synthetic_val / "pseudo_semantic_raw_k24", "val", ".png")
    key = next(iter(preds))
    clusters = cs.read_png(preds[key])
    assert clusters.shape == (128, 256) and clusters.max() < 24
    gt = cs.resize_nearest(cs.load_train_ids(cs.label_ids_paths(synthetic_val, "val")[key]), (128, 256))
    valid = gt != cs.IGNORE_ID
    agreement = (cluster_to_class[clusters] == gt)[valid].mean()
    assert 0.6 < agreement < 0.995  # degraded, but recognisably the scene


@pytest.mark.parametrize("argv, message", [
    (["--num_images", "0"], "--num_images"),
    (["--size", "32", "64"], "too small"),
    (["--with_prediction", "--k", "10"], "--k"),
])
def test_bad_arguments_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as info:
        synthetic_cli.main(["--root", str(tmp_path), *argv])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_second_split_keeps_the_first_splits_centroid_file(tmp_path: Path) -> None:
    synthetic.write_dataset(tmp_path, "val", num_images=1, seed=0, size=(64, 128), num_clusters=24, show_progress=False)
    centroids = tmp_path / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"
    before = centroids.read_bytes()
    synthetic.write_dataset(tmp_path, "train", num_images=1, seed=5, size=(64, 128), num_clusters=24, show_progress=False)
    assert centroids.read_bytes() == before  # the val maps were drawn with this table
