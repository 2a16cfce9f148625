"""Exports of frames that are not Cityscapes: a folder of photos of mixed sizes, labelled without any ground truth.

The maps are written directly (trainIds at each photo's size, depth at its working size), so no network runs:
the instance files, the panoptic export (COCO ``images`` list) and the CUPS export (labels at each image's
size x 0.625, CUPS' image folder as links, the crop in the printed command) follow each frame's own size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.cli import cups as convert
from pseudo_labels.cli import instances as gen
from pseudo_labels.cli import panoptic as gp
from pseudo_labels.core.fileio import write_npy, write_png
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import working_size

SIZES = {"day/a": (330, 660, ".jpg"), "b": (400, 340, ".png")}  # landscape jpg in a sub-folder, portrait png
NAMES = {"day/a": "day_000000_000000", "b": "frames_000000_000000"}


def scene(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """trainIds (road below, sky above, two cars side by side) and a depth map where the cars differ."""
    labels = np.full((height, width), 10, np.uint8)  # sky
    labels[height // 2:] = 0  # road
    top, bottom = height // 2 - height // 8, height // 2 + height // 8
    labels[top:bottom, width // 8: width // 2 - 2] = 13  # car
    labels[top:bottom, width // 2 + 2: width - width // 8] = 13  # car
    depth = np.tile(np.linspace(0, 1, height, dtype=np.float32)[:, None], (1, width))
    depth[top:bottom, width // 2:] = 0.9  # the second car is far: a depth edge between them
    return labels, depth


@pytest.fixture(scope="module")
def photos_and_maps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(photos, output root): two photos and their semantic maps (image size) and depth maps (working size)."""
    base = tmp_path_factory.mktemp("layouts")
    photos, root = base / "photos", base / "out"
    rng = np.random.default_rng(0)
    for key, (height, width, ext) in SIZES.items():
        image = photos / f"{key}{ext}"
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (height, width, 3), np.uint8)).save(image)
        labels, _ = scene(height, width)
        write_png(cs.output_path(root / "sem", "train", key, ".png"), labels)
        _, depth = scene(*working_size(height, width))
        write_npy(cs.output_path(root / cs.DEPTH_SUBDIR, "train", key, ".npy"), depth)
    return photos, root


def test_panoptic_export_writes_each_frame_at_its_size_and_lists_the_images(photos_and_maps: tuple[Path, Path]
                                                                            ) -> None:
    photos, root = photos_and_maps
    argv = ["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", "sem", "--min_area", "100",
            "--layout", "folder", "--image_root", str(photos), "--workers", "1"]
    assert gp.main(argv) == 0
    data = json.loads((root / "panoptic_pseudolabels" / "train.json").read_text())
    images = {entry["id"]: entry for entry in data["images"]}
    assert {a["image_id"] for a in data["annotations"]} == set(images) == set(NAMES.values())
    for key, (height, width, ext) in SIZES.items():
        entry = images[NAMES[key]]
        assert entry == {"id": NAMES[key], "file_name": f"{key}{ext}", "height": height, "width": width}
        png = root / "panoptic_pseudolabels" / "train" / f"{NAMES[key]}_panoptic.png"
        assert Image.open(png).size == (width, height)
    cars = [s for a in data["annotations"] for s in a["segments_info"] if s["category_id"] == 26]
    assert len(cars) == 4  # both cars of both frames, split at the depth edge of each frame's working size
    with pytest.raises(SystemExit):  # outputs inside the photos are refused
        gp.main([*argv[:1], str(photos), *argv[2:]])


def test_cups_export_sizes_links_and_command(photos_and_maps: tuple[Path, Path],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    photos, root = photos_and_maps
    argv = ["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", "sem", "--depth_instances",
            "--use_trainid_things", "--num_classes", "19", "--min_instance_area", "100", "--layout", "folder",
            "--image_root", str(photos), "--workers", "1"]
    assert convert.main(argv) == 0
    command = capsys.readouterr().out
    out = root / "cups_pseudo_labels"
    for key, (height, width, ext) in SIZES.items():
        stem = f"{NAMES[key]}_leftImg8bit"
        semantic = np.asarray(Image.open(out / f"{stem}_semantic.png"))
        instances = np.asarray(Image.open(out / f"{stem}_instance.png"))
        assert semantic.shape == instances.shape == (int(height * 0.625), int(width * 0.625))
        assert instances.dtype == np.uint8 and len(np.unique(instances[instances > 0])) == 2
        counts = torch.load(out / f"{stem}.pt", weights_only=True)
        assert int(counts["distribution all pixels"].sum()) == semantic.size
        link = root / "leftImg8bit_sequence" / "train" / NAMES[key].split("_")[0] / f"{stem}.png"
        assert link.is_symlink() and Path(os.readlink(link)) == (photos / f"{key}{ext}").resolve()
    # the crop every image holds (portrait 250x212 -> 224x192), as CUPS' Cityscapes config crops 640x1280
    assert f'DATA.ROOT "{root}"' in command and 'DATA.CROP_RESOLUTION "(192, 192)"' in command
    stats = json.loads((out / "stats.json").read_text())
    assert stats["cups_data_scale"] == 0.625 and stats["target_size"] == "each image x 0.625"


def test_instance_files_follow_each_frame_and_a_map_without_its_image_is_refused(
        photos_and_maps: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos, root = photos_and_maps
    out = tmp_path / "instances"
    assert gen.main(["--semantic_dir", str(root / "sem" / "train"), "--depth_dir", str(root / cs.DEPTH_SUBDIR / "train"),
                     "--output_dir", str(out), "--min_area", "100", "--workers", "1"]) == 0
    for key, (height, width, _) in SIZES.items():
        assert np.asarray(Image.open(out / f"{key}_instance.png")).shape == working_size(height, width)
    stray = tmp_path / "stray"
    write_png(cs.output_path(stray / "sem", "train", "night/c", ".png"), scene(330, 660)[0])
    with pytest.raises(SystemExit) as info:
        gp.main(["--cityscapes_root", str(stray), "--split", "train", "--semantic_subdir", "sem", "--cc_instances",
                 "--layout", "folder", "--image_root", str(photos)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "no image of frame 'night/c'" in err and "--image_root" in err
    assert not (stray / "panoptic_pseudolabels").exists()


def test_label_free_clusters_become_coco_categories_and_shards_merge_to_the_same_json(
        photos_and_maps: tuple[Path, Path], tmp_path: Path) -> None:
    """Raw clusters with a label-free decision: every cluster a category (cluster + 1), things split by depth."""
    photos, root = photos_and_maps
    to_cluster = np.full(256, 255, np.uint8)
    to_cluster[[0, 10, 13]] = [0, 1, 2]  # road -> 0, sky -> 1, car -> 2
    labelled = tmp_path / "clusters"
    for key, (height, width, _) in SIZES.items():
        write_png(cs.output_path(labelled / "raw", "train", key, ".png"), to_cluster[scene(height, width)[0]])
        (labelled / cs.DEPTH_SUBDIR / "train" / key).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(cs.output_path(root / cs.DEPTH_SUBDIR, "train", key, ".npy"),
                   cs.output_path(labelled / cs.DEPTH_SUBDIR, "train", key, ".npy"))
    decision = tmp_path / "stuff_things.json"
    decision.write_text(json.dumps({"stuff_ids": [0, 1], "thing_ids": [2]}))
    argv = ["--cityscapes_root", str(labelled), "--split", "train", "--semantic_subdir", "raw", "--min_area", "100",
            "--layout", "folder", "--image_root", str(photos), "--stuff_things", str(decision), "--workers", "1"]
    assert gp.main(argv) == 0
    single = (labelled / "panoptic_pseudolabels" / "train.json").read_bytes()
    data = json.loads(single)
    assert data["categories"] == [{"id": 1, "name": "cluster 0", "isthing": 0},
                                  {"id": 2, "name": "cluster 1", "isthing": 0},
                                  {"id": 3, "name": "cluster 2", "isthing": 1}]
    for annotation in data["annotations"]:
        categories = sorted(s["category_id"] for s in annotation["segments_info"])
        assert categories == [1, 2, 3, 3]  # road, sky and the two cars cut apart at their depth edge
    for index in range(2):
        assert gp.main([*argv, "--output_subdir", "sharded", "--num_shards", "2", "--shard_index", str(index)]) == 0
    assert gp.main(["merge", *map(str, sorted((labelled / "sharded").glob("train.shard-*.json")))]) == 0
    assert (labelled / "sharded" / "train.json").read_bytes() == single
    # the real client: cityscapesscripts' COCO-panoptic evaluator reads the JSON's categories and the PNGs
    import contextlib
    import io

    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic

    folder = labelled / "panoptic_pseudolabels"
    with contextlib.redirect_stdout(io.StringIO()):
        scores = evaluatePanoptic(str(folder / "train.json"), str(folder / "train"), str(folder / "train.json"),
                                  str(folder / "train"), str(tmp_path / "self.json"))
    assert scores["All"]["pq"] == 1.0 and scores["All"]["n"] == 3 and scores["Things"]["n"] == 1
