"""One reader per file kind: each refuses what does not fit with an InputError naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_npy, write_npz, write_png
from pseudo_labels.data.cityscapes import load_label_ids, read_rgb
from pseudo_labels.formats.centroids import FEATURE_DIM, load_centroid_file, load_cluster_to_class, thing_clusters
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.instance_npz import masks_from_npz, read_instance_masks
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_and_things, read_stuff_things


def _refused(call, path: Path, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        call()
    assert str(path) in str(info.value)


def test_semantic_maps(tmp_path: Path) -> None:
    ids = np.array([[0, 3], [255, 2]], np.uint8)
    path = write_png(tmp_path / "a.png", ids)
    assert np.array_equal(read_label_png(path, 4, allow_ignore=True), ids)
    _refused(lambda: read_label_png(path, 4), path, "id 255 >= 4")
    colour = write_png(tmp_path / "c.png", np.zeros((2, 2, 3), np.uint8))
    _refused(lambda: read_label_png(colour), colour, "is 8-bit RGB, but a map of ids must be 8-bit greyscale")
    palette = Image.fromarray(ids, "P")
    palette.putpalette([0, 0, 0, 200, 10, 10] * 128)
    palette.save(tmp_path / "p.png")
    _refused(lambda: read_label_png(tmp_path / "p.png"), tmp_path / "p.png", "is palette")
    photo = read_rgb(tmp_path / "p.png")  # a palette photo is read through its colours, not as its indices
    assert photo.shape == (2, 2, 3) and photo[0, 1].tolist() == [200, 10, 10] and photo[0, 0].tolist() == [0, 0, 0]
    deep = write_png(tmp_path / "d.png", np.full((2, 2), 300, np.uint16))
    _refused(lambda: read_rgb(deep), deep, "16-bit greyscale; photos must be 8-bit")
    _refused(lambda: load_label_ids(deep), deep, "labelIds PNG must be 8-bit greyscale")
    grey = write_png(tmp_path / "g.png", ids)
    assert np.array_equal(read_rgb(grey), np.repeat(ids[:, :, None], 3, axis=2))


def test_depth_maps(tmp_path: Path) -> None:
    good = write_npy(tmp_path / "d.npy", np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4))
    assert load_depth(good, (4, 8)).shape == (4, 8)
    for name, array, match in (("nan.npy", np.array([[0.0, np.nan]], np.float32), "NaN"),
                               ("int.npy", np.zeros((2, 2), np.int32), "HxW float"),
                               ("cube.npy", np.zeros((2, 2, 2), np.float32), "HxW float")):
        path = write_npy(tmp_path / name, array)
        _refused(lambda: load_depth(path, (2, 2)), path, match)


def test_centroid_files(tmp_path: Path) -> None:
    table = np.array([0, 11, 13, 2, 11], np.uint8)
    centroids = np.eye(5, FEATURE_DIM)
    path = write_npz(tmp_path / "k.npz", {"centroids": centroids, "cluster_to_class": table})
    assert np.array_equal(load_cluster_to_class(path), table) and thing_clusters(table) == (1, 2, 4)
    assert load_centroid_file(path, need_classes=True)[1].tolist() == table.tolist()
    narrow = write_npz(tmp_path / "n.npz", {"centroids": np.eye(5, 64), "cluster_to_class": table})
    _refused(lambda: load_centroid_file(narrow, need_classes=False), narrow, f"\\(k, {FEATURE_DIM}\\)")
    label_free = write_npz(tmp_path / "f.npz", {"centroids": centroids, "cluster_to_class": np.full(5, 255, np.uint8)})
    _refused(lambda: load_centroid_file(label_free, need_classes=True), label_free, "trainIds 0..18")
    wrong = write_npz(tmp_path / "w.npz", {"cluster_to_class": np.array([0, 40])})
    _refused(lambda: load_cluster_to_class(wrong), wrong, "outside the trainIds")


def test_stuff_things_files(tmp_path: Path) -> None:
    path = tmp_path / "st.json"
    path.write_text(json.dumps({"stuff_ids": [1, 0], "thing_ids": [7, 3]}))
    assert read_stuff_things(path, 8) == (3, 7) and read_stuff_and_things(path) == ([0, 1], [3, 7])
    _refused(lambda: read_stuff_things(path, 5), path, r"thing_ids \[7\]")
    path.write_text(json.dumps({"things": [1]}))
    _refused(lambda: read_stuff_things(path), path, "'thing_ids' list")
    _refused(lambda: read_stuff_and_things(path), path, "'stuff_ids' and 'thing_ids' lists")
    for data, match in (({"stuff_ids": [0], "thing_ids": ["3"]}, "integer ids only"),
                        ({"stuff_ids": [0], "thing_ids": [3.0]}, "integer ids only"),
                        ({"stuff_ids": [0], "thing_ids": [True]}, "integer ids only"),
                        ({"stuff_ids": [0, 0], "thing_ids": [3]}, r"ids \[0\] more than once"),
                        ({"stuff_ids": [3], "thing_ids": [3]}, r"\[3\] are in both"),
                        ({"stuff_ids": "0", "thing_ids": [3]}, "'stuff_ids' must be a list"),
                        ([3], "not a stuff_things.json")):
        path.write_text(json.dumps(data))
        _refused(lambda: read_stuff_things(path), path, match)
    path.write_text('{"thing_ids": [3')
    _refused(lambda: read_stuff_things(path), path, "cannot be read as JSON")


def test_instance_files(tmp_path: Path) -> None:
    masks = np.zeros((3, 2, 4), bool)
    masks[0, :, :2], masks[1, :, 2:] = True, True
    flat = write_npz(tmp_path / "flat.npz", {"masks": masks.reshape(3, 8), "num_valid": np.int64(2),
                                            "h_patches": np.int64(2), "w_patches": np.int64(4)})
    found = read_instance_masks(flat)
    assert found.masks.shape == (2, 2, 4) and found.scores is None
    resized, scores = masks_from_npz(flat, (4, 8))
    assert resized.shape == (2, 4, 8) and scores.tolist() == [16.0, 16.0]  # areas at the size asked for
    no_grid = write_npz(tmp_path / "no_grid.npz", {"masks": masks.reshape(3, 8)})
    assert read_instance_masks(no_grid, no_grid_is_empty=True) is None  # the original panoptic assembly's reading
    _refused(lambda: read_instance_masks(no_grid), no_grid, "h_patches x w_patches")
    _refused(lambda: read_instance_masks(flat, require=("scores",)), flat, "'scores'")
    cube = write_npz(tmp_path / "cube.npz", {"masks": masks, "num_valid": np.int64(5)})
    _refused(lambda: read_instance_masks(cube), cube, "num_valid 5 but only 3 masks")


def test_instance_file_fields_must_agree(tmp_path: Path) -> None:
    masks = np.zeros((2, 8), bool)
    good = {"masks": masks, "num_valid": np.int64(2), "h_patches": np.int64(2), "w_patches": np.int64(4),
            "scores": np.ones(2, np.float32), "classes": np.array([11, 13], np.uint8)}
    assert len(read_instance_masks(write_npz(tmp_path / "good.npz", good))) == 2
    for name, change, match in (("float_count", {"num_valid": np.float64(2.0)}, "num_valid must be a non-negative"),
                                ("negative_grid", {"h_patches": np.int64(-2)}, "h_patches must be a non-negative"),
                                ("short_scores", {"scores": np.ones(1, np.float32)}, "scores must be a 1-D"),
                                ("nan_scores", {"scores": np.array([1, np.nan], np.float32)}, "NaN or inf"),
                                ("float_classes", {"classes": np.array([11.0, 13.0])}, "classes must be a 1-D integer"),
                                ("big_classes", {"classes": np.array([11, 300])}, "0..255"),
                                ("soft_masks", {"masks": np.full((2, 8), 0.5, np.float32)}, "boolean"),
                                ("bad_painted", {"painted": np.array([0, 5])}, "mask indices 0..1"),
                                ("wrong_grid", {"w_patches": np.int64(5)}, "2 x 5 = 10")):
        path = write_npz(tmp_path / f"{name}.npz", {**good, **change})
        _refused(lambda: read_instance_masks(path), path, match)


def test_prediction_json_schema(tmp_path: Path) -> None:
    from pseudo_labels.formats.panoptic_json import read_prediction_json

    path = tmp_path / "pred.json"
    entry = {"image_id": "a_000000_000001", "file_name": "a.png", "segments_info": [{"id": 1, "category_id": 7}]}
    path.write_text(json.dumps({"annotations": [entry]}))
    assert list(read_prediction_json(path)) == ["a_000000_000001"]
    for data, match in (([entry], "needs an 'annotations' list"),
                        ({"annotations": [entry, entry]}, "listed twice"),
                        ({"annotations": [{**entry, "file_name": None}]}, "'file_name' string"),
                        ({"annotations": [{**entry, "image_id": 1.5}]}, "'image_id' must be"),
                        ({"annotations": [{**entry, "segments_info": [{"id": "1", "category_id": 7}]}]}, "integer 'id'"),
                        ({"annotations": [{**entry, "segments_info": [{"id": 1, "category_id": 7}] * 2}]},
                         "segment id 1 is listed twice"),
                        ({"annotations": [{**entry, "segments_info": [{"id": 0, "category_id": 7}]}]}, "0 is void")):
        path.write_text(json.dumps(data))
        _refused(lambda: read_prediction_json(path), path, match)
    path.write_text("")
    _refused(lambda: read_prediction_json(path), path, "cannot be read as JSON")


def test_an_array_file_of_the_other_kind_is_named(tmp_path: Path) -> None:
    from pseudo_labels.core.fileio import read_npy, read_npz

    array = write_npy(tmp_path / "c.npy", np.zeros((2, 90)))
    _refused(lambda: load_centroid_file(array, need_classes=False), array, "a .npy array, where a .npz archive")
    archive = write_npz(tmp_path / "d.npz", {"depth": np.zeros((2, 2), np.float32)})
    _refused(lambda: read_npy(archive), archive, "a .npz archive, where a .npy array")
    _refused(lambda: read_npz(tmp_path / "none.npz"), tmp_path / "none.npz", "cannot be read as .npz")
