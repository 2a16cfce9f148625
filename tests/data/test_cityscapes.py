"""The label table against cityscapesscripts, dataset discovery, GT loading and resizing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cityscapesscripts.helpers import labels as official
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError


# --------------------------------------------------------------------------- label table


def test_train_ids_names_colours_match_cityscapesscripts() -> None:
    for train_id in range(cs.NUM_CLASSES):
        label = official.trainId2label[train_id]
        assert cs.CLASS_NAMES[train_id] == label.name
        assert tuple(cs.CLASS_COLORS[train_id]) == label.color
        assert cs.TRAIN_ID_TO_LABEL_ID[train_id] == label.id
    assert cs.CLASS_NAMES[0] == "road" and cs.CLASS_NAMES[18] == "bicycle"


def test_stuff_and_things_split_at_11() -> None:
    assert cs.STUFF_TRAIN_IDS == tuple(range(11))
    assert cs.THING_TRAIN_IDS == tuple(range(11, 19))
    assert cs.IS_THING[11:19].all() and not cs.IS_THING[:11].any() and not cs.IS_THING[255]
    assert cs.THING_LABEL_IDS == (24, 25, 26, 27, 28, 31, 32, 33)


def test_label_id_to_train_id_for_every_official_label() -> None:
    for label in official.labels:
        if label.id < 0:
            continue
        expected = label.trainId if 0 <= label.trainId < 255 else 255
        assert cs.LABEL_ID_TO_TRAIN_ID[label.id] == expected, label.name
    # ids the table does not know are void
    assert cs.LABEL_ID_TO_TRAIN_ID[34] == 255 and cs.LABEL_ID_TO_TRAIN_ID[200] == 255


def test_train_id_round_trip() -> None:
    ids = np.arange(cs.NUM_CLASSES)
    assert np.array_equal(cs.LABEL_ID_TO_TRAIN_ID[cs.TRAIN_ID_TO_LABEL_ID[ids]], ids)


def test_cause27_classes_are_label_ids_7_to_33() -> None:
    assert len(cs.CAUSE27_NAMES) == 27
    assert cs.CAUSE27_NAMES[0] == "road" and cs.CAUSE27_NAMES[26] == "bicycle"
    assert cs.CAUSE27_NAMES[2] == "parking" and cs.CAUSE27_TO_TRAIN_ID[2] == 255
    for cause_id, label_id in enumerate(range(7, 34)):
        assert cs.CAUSE27_TO_TRAIN_ID[cause_id] == cs.LABEL_ID_TO_TRAIN_ID[label_id]
        assert cs.LABEL_ID_TO_CAUSE27[label_id] == cause_id
    assert cs.LABEL_ID_TO_CAUSE27[6] == 255 and cs.LABEL_ID_TO_CAUSE27[34] == 255
    assert sorted(set(cs.CAUSE27_TO_TRAIN_ID.tolist()) - {255}) == list(range(19))


def test_label_id_by_name() -> None:
    assert cs.label_id("car") == 26 and cs.label_id("ego vehicle") == 1
    with pytest.raises(KeyError, match="not a Cityscapes class"):
        cs.label_id("spaceship")


def test_colorize_uses_palette_and_black_void() -> None:
    ids = np.array([[0, 13], [255, 10]], np.uint8)
    rgb = cs.colorize(ids)
    assert tuple(rgb[0, 0]) == (128, 64, 128) and tuple(rgb[0, 1]) == (0, 0, 142)
    assert tuple(rgb[1, 0]) == (0, 0, 0) and tuple(rgb[1, 1]) == (70, 130, 180)


# --------------------------------------------------------------------------- discovery


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((4, 8), np.uint8)).save(path)


def test_discovery_sorted_and_keyed(tmp_path: Path) -> None:
    for name in ("munster/munster_000002_000019", "frankfurt/frankfurt_000001_000019",
                 "frankfurt/frankfurt_000000_000576"):
        _touch(tmp_path / "leftImg8bit" / "val" / f"{name}_leftImg8bit.png")
    (tmp_path / "leftImg8bit" / "val" / "frankfurt" / "notes.txt").write_text("ignored: not an image")
    found = cs.image_paths(tmp_path, "val")
    assert list(found) == ["frankfurt/frankfurt_000000_000576", "frankfurt/frankfurt_000001_000019",
                           "munster/munster_000002_000019"]
    assert found["munster/munster_000002_000019"].name == "munster_000002_000019_leftImg8bit.png"


def test_discovery_of_synthetic_dataset(synthetic_val: Path) -> None:
    images = cs.image_paths(synthetic_val, "val")
    labels = cs.label_ids_paths(synthetic_val, "val")
    instances = cs.instance_ids_paths(synthetic_val, "val")
    depth = cs.output_paths(synthetic_val / cs.DEPTH_SUBDIR, "val", ".npy", "depth")
    assert list(images) == list(labels) == list(instances) == list(depth)
    assert len(images) == 3
    key = next(iter(images))
    assert cs.output_path(synthetic_val / cs.DEPTH_SUBDIR, "val", key, ".npy") == depth[key]


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=str(tmp_path / "leftImg8bit" / "train")):
        cs.image_paths(tmp_path, "train")


def test_empty_split_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "gtFine" / "val" / "lindau").mkdir(parents=True)
    with pytest.raises(InputError, match="split is empty"):
        cs.label_ids_paths(tmp_path, "val")


@pytest.mark.parametrize("name", ["frankfurt_1_19_leftImg8bit.png", "lindau_000001_000019_leftImg8bit.png",
                                  "frankfurt_000001_leftImg8bit.png"])
def test_badly_named_file_is_an_error(tmp_path: Path, name: str) -> None:
    _touch(tmp_path / "leftImg8bit" / "val" / "frankfurt" / name)
    with pytest.raises(InputError, match="does not follow the Cityscapes pattern") as info:
        cs.image_paths(tmp_path, "val")
    assert name in str(info.value)


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_crowd_and_void(tmp_path: Path) -> None:
    label_ids = np.array([[7, 26, 26, 24], [1, 26, 26, 24], [0, 11, 33, 5]], np.uint8)
    instance_ids = np.array([[7, 26000, 26001, 24], [1, 26000, 26001, 24], [0, 11, 33000, 5]], np.uint16)
    Image.fromarray(label_ids).save(tmp_path / "l.png")
    Image.fromarray(instance_ids).save(tmp_path / "i.png")
    gt = cs.load_ground_truth(tmp_path / "l.png", tmp_path / "i.png")
    assert gt.train_ids.tolist() == [[0, 13, 13, 11], [255, 13, 13, 11], [255, 2, 18, 255]]
    assert gt.instance_ids.dtype == np.int32 and gt.instance_ids.max() == 33000
    assert gt.crowd.tolist() == [[False, False, False, True], [False, False, False, True], [False] * 4]
    assert gt.void.tolist() == [[False] * 4, [True, False, False, False], [True, False, False, True]]


def test_ground_truth_size_mismatch_names_file(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "l.png")
    Image.fromarray(np.zeros((4, 5), np.uint16)).save(tmp_path / "i.png")
    with pytest.raises(InputError, match="i.png"):
        cs.load_ground_truth(tmp_path / "l.png", tmp_path / "i.png")


def test_corrupt_and_missing_png_name_the_file(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:40])
    with pytest.raises(InputError, match="cut.png: cannot be read"):
        cs.load_label_ids(tmp_path / "cut.png")
    with pytest.raises(InputError, match="gone.png: file not found"):
        cs.load_label_ids(tmp_path / "gone.png")


def test_rgb_image_where_labels_expected_is_an_error(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(InputError, match="is 8-bit RGB, but a labelIds PNG must be 8-bit greyscale"):
        cs.load_label_ids(tmp_path / "rgb.png")


def test_synthetic_ground_truth_has_instances_crowd_and_void(synthetic_val: Path) -> None:
    key = next(iter(cs.label_ids_paths(synthetic_val, "val")))
    gt = cs.load_ground_truth(cs.label_ids_paths(synthetic_val, "val")[key],
                              cs.instance_ids_paths(synthetic_val, "val")[key])
    assert gt.void.any() and gt.crowd.any()
    instances = np.unique(gt.instance_ids[gt.instance_ids >= cs.INSTANCE_OFFSET])
    assert len(instances) >= 3
    # instance ids encode their own class
    assert np.array_equal(cs.LABEL_ID_TO_TRAIN_ID[instances // 1000].astype(int) >= 11, np.ones(len(instances), bool))


# --------------------------------------------------------------------------- resizing


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), oh=st.integers(1, 40), ow=st.integers(1, 40),
       seed=st.integers(0, 2**16))
def test_resize_nearest_is_pillow_nearest(h: int, w: int, oh: int, ow: int, seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    expected = np.array(Image.fromarray(labels).resize((ow, oh), Image.NEAREST))
    assert np.array_equal(cs.resize_nearest(labels, (oh, ow)), expected)


def test_resize_nearest_keeps_16_bit_instance_ids() -> None:
    ids = np.array([[26000, 26001], [24000, 7]], np.int32)
    out = cs.resize_nearest(ids, (4, 4))
    assert out.dtype == np.int32 and set(out.ravel().tolist()) == {26000, 26001, 24000, 7}


def test_resize_nearest_differs_from_naive_floor_where_pillow_does() -> None:
    # Pillow samples at pixel centres: 1024 -> 512 takes odd rows, not even ones.
    ramp = np.arange(1024, dtype=np.int32)[:, None]
    assert cs.resize_nearest(ramp, (512, 1))[:3, 0].tolist() == [1, 3, 5]


def test_resize_bilinear_matches_pillow_float() -> None:
    depth = np.random.default_rng(3).random((20, 30), dtype=np.float32)
    expected = np.array(Image.fromarray(depth, mode="F").resize((45, 10), Image.BILINEAR))
    out = cs.resize_bilinear(depth, (10, 45))
    assert out.dtype == np.float32 and np.array_equal(out, expected)
