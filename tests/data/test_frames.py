"""Image layouts: which frames a folder holds, their keys, their sizes, and bad images named before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import MIN_SHORT_SIDE, CityscapesLayout, FolderLayout, frame_sizes, layout_named


def _image(path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    array = rng.integers(0, 255, (*size, 3), np.uint8)
    Image.fromarray(array).convert(mode).save(path)
    return path


@pytest.fixture(scope="module")
def dashcam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nested folders, png and jpg, mixed sizes, a portrait frame, a greyscale frame, a hidden file."""
    root = tmp_path_factory.mktemp("dashcam")
    _image(root / "day" / "b.jpg", (360, 640))
    _image(root / "day" / "a.png", (375, 1242))
    _image(root / "night" / "a.png", (480, 640), "L")
    _image(root / "portrait.JPG", (640, 360))
    _image(root / ".thumbs" / "x.png", (360, 640))
    (root / "notes.txt").write_text("not an image")
    return root


def test_a_folder_lists_every_image_by_its_path(dashcam: Path) -> None:
    frames = FolderLayout().frames(dashcam, "all")
    assert list(frames) == ["day/a", "day/b", "night/a", "portrait"]  # sorted, sub-folders kept apart
    assert frame_sizes(frames) == {"day/a": (375, 1242), "day/b": (360, 640), "night/a": (480, 640),
                                   "portrait": (640, 360)}
    assert cs.read_rgb(frames["night/a"]).shape == (480, 640, 3)  # greyscale read as RGB
    out = cs.output_path(Path("/o"), "all", "day/a", ".png")
    assert out == Path("/o/all/day/a.png")


def test_cityscapes_layout_keeps_its_paths(synthetic_val: Path) -> None:
    layout = layout_named("cityscapes")
    assert isinstance(layout, CityscapesLayout)
    frames = layout.frames(synthetic_val, "val")
    assert frames == cs.image_paths(synthetic_val, "val")
    assert layout.images_folder(synthetic_val, "val") == synthetic_val / "leftImg8bit" / "val"
    assert all(path.parent.parent == layout.images_folder(synthetic_val, "val") for path in frames.values())


def test_bad_folders_and_images_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="image folder not found"):
        FolderLayout().frames(tmp_path / "none", "all")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="the folder is empty"):
        FolderLayout().frames(tmp_path / "empty", "all")
    twins = tmp_path / "twins"
    _image(twins / "a.png", (400, 400))
    _image(twins / "a.jpg", (400, 400))
    with pytest.raises(InputError, match="would write the same outputs"):
        FolderLayout().frames(twins, "all")
    for name, content, match in (("zero.png", b"", "zero-byte image"),
                                 ("cut.jpg", None, "cannot be read as an image"),
                                 ("small.png", (MIN_SHORT_SIDE - 1, 800), "smaller than one 322-px CAUSE window")):
        path = tmp_path / "bad" / name
        if content is None:
            _image(tmp_path / "whole.jpg", (400, 400))
            path.parent.mkdir(exist_ok=True)
            path.write_bytes((tmp_path / "whole.jpg").read_bytes()[:20])
        elif isinstance(content, bytes):
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)
        else:
            _image(path, content)
        with pytest.raises(InputError, match=match) as info:
            frame_sizes({"x": path})
        assert str(path) in str(info.value)
    with pytest.raises(InputError, match="unknown layout 'kitty'"):
        layout_named("kitty")


def test_kitti_and_bdd_layouts_list_their_frames(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    for drive, frame in (("2011_09_26_drive_0002_sync", 1), ("2011_09_26_drive_0001_sync", 0)):
        (raw / "2011_09_26" / drive / "image_03" / "data").mkdir(parents=True)  # the right camera: not read
        (raw / "2011_09_26" / drive / "image_03" / "data" / f"{frame:010d}.png").write_bytes(b"x")
        (raw / "2011_09_26" / drive / "image_02" / "data").mkdir(parents=True)
        (raw / "2011_09_26" / drive / "image_02" / "data" / f"{frame:010d}.png").write_bytes(b"x")
    assert list(layout_named("kitti_raw").frames(raw, "all")) == ["2011_09_26_drive_0001_sync/0000000000",
                                                                   "2011_09_26_drive_0002_sync/0000000001"]
    step = tmp_path / "step"
    for kind in ("images", "panoptic_maps"):
        (step / kind / "val" / "0002").mkdir(parents=True)
        (step / kind / "val" / "0002" / "000007.png").write_bytes(b"x")
    layout = layout_named("kitti_step")
    assert list(layout.frames(step, "val")) == list(layout.panoptic_paths(step, "val")) == ["0002/000007"]
    with pytest.raises(InputError, match="KITTI-STEP split not found"):
        layout.frames(step, "test")
    bdd = tmp_path / "bdd"
    (bdd / "images" / "10k" / "val").mkdir(parents=True)
    (bdd / "images" / "10k" / "val" / "7d06fefd-f7be05a6.jpg").write_bytes(b"x")
    assert list(layout_named("bdd100k").frames(bdd, "val")) == ["7d06fefd-f7be05a6"]


def test_kitti_step_and_bdd_ground_truth_decode_to_train_ids() -> None:
    from pseudo_labels.data.bdd100k import bdd_ground_truth
    from pseudo_labels.data.kitti import step_ground_truth

    step = np.zeros((1, 3, 3), np.uint8)
    step[0] = [[13, 1, 2], [0, 0, 0], [255, 0, 0]]  # car instance 258, road, void
    semantic, instance = step_ground_truth(step)
    assert semantic.tolist() == [[13, 0, 255]] and instance.tolist() == [[258, 0, 0]]
    with pytest.raises(InputError, match="class 40 is not a Cityscapes trainId"):
        step_ground_truth(np.full((1, 1, 3), 40, np.uint8), "s.png")
    bitmask = np.zeros((1, 4, 4), np.uint8)
    bitmask[0] = [[35, 0, 1, 3], [7, 0, 0, 9], [36, 2, 0, 1], [0, 0, 0, 0]]  # car 259, road, crowd caravan, unlabeled
    semantic, instance, excluded = bdd_ground_truth(bitmask)
    assert semantic.tolist() == [[13, 0, 255, 255]]
    assert instance.tolist() == [[259, 0, 1, 0]] and excluded.tolist() == [[False, False, True, False]]
    with pytest.raises(InputError, match="8-bit RGBA"):
        bdd_ground_truth(np.zeros((1, 1, 3), np.uint8))


def test_size_rules_follow_the_frame_and_keep_the_reference_sizes() -> None:
    from pseudo_labels.data.frames import working_size
    from pseudo_labels.semantics.features import working_size as window_size

    assert working_size(1024, 2048) == cs.WORKING_SIZE and working_size(375, 1242) == (512, 1696)
    assert working_size(640, 360) == (910, 512) and working_size(720, 1280) == (512, 910)
    assert window_size(1024, 2048) == (322, 644) and window_size(375, 1242) == (322, 1064)  # CAUSE: 14-px patches
    assert all(side % 14 == 0 for side in window_size(640, 360))


def test_every_frame_gets_one_cityscapes_style_name() -> None:
    from pseudo_labels.data.frames import cityscapes_names

    names = cityscapes_names(["day/b", "day/a", "Night Drive/a", "night-drive/c", "portrait", "top",
                              "frankfurt/frankfurt_000000_000019"])
    assert names == {"day/a": "day_000000_000000", "day/b": "day_000000_000001",
                     "Night Drive/a": "nightdrive_000000_000000", "night-drive/c": "nightdrive_000001_000000",
                     "portrait": "frames_000000_000000", "top": "frames_000000_000001",
                     "frankfurt/frankfurt_000000_000019": "frankfurt_000000_000019"}  # a Cityscapes key keeps its stem
    assert all(cs.is_cityscapes_stem(name.split("_")[0], name) for name in names.values())
    with pytest.raises(InputError, match="would share the name day_000000_000000"):
        cityscapes_names(["day/a", "day/day_000000_000000"])  # a made name and a Cityscapes stem that agree


def test_other_datasets_ground_truth_in_the_cityscapes_encoding() -> None:
    train_ids = np.array([[13, 13, 11, 0, 255, 14]], np.uint8)  # car, car, person, road, void, truck
    instances = np.array([[1, 2, 5, 7, 3, 0]], np.int32)  # road's and void's numbers mean nothing
    excluded = np.array([[False, True, False, False, False, False]])
    ids = cs.instance_ids_of(train_ids, instances, excluded)
    assert ids.tolist() == [[26001, 0, 24005, 7, 0, 27]]  # a truck pixel without instance is crowd, as in gtFine
    gt = cs.GroundTruth(train_ids=cs.LABEL_ID_TO_TRAIN_ID[np.where(ids >= 1000, ids // 1000, ids)].astype(np.uint8),
                        instance_ids=ids)
    assert gt.crowd.tolist() == [[False, False, False, False, False, True]]
    with pytest.raises(InputError, match="1000 does not fit"):
        cs.instance_ids_of(train_ids, np.full((1, 6), 1000, np.int32))
