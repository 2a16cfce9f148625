"""Both evaluators on KITTI-STEP and BDD100K panoptic ground truth (``--gt_layout``): tiny scenes, hand counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pseudo_labels.cli import evaluate_cups, evaluate_panoptic
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_png
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.ground_truth import GtSource, ground_truth
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export.cityscapes_panoptic import write_predictions
from pseudo_labels.formats import cups_labels

SIZE = (40, 80)
ROAD, BUILDING, VEGETATION, SKY, PERSON, CAR = 0, 2, 8, 10, 11, 13
"""trainIds of the scenes."""
BDD_CATEGORY = {ROAD: 7, BUILDING: 10, VEGETATION: 29, SKY: 30, PERSON: 31, CAR: 35}
"""BDD100K pan_seg category of each trainId used."""
PERSON_TRACK = 1500
"""A KITTI-STEP track id above 999: renumbered per image, so it still fits labelId * 1000 + n."""


def _scene(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(trainIds, instances) of a 40x80 street: sky, building | vegetation, road; two 10x20 cars and a person;
    a 4x10 void corner. ``shift`` moves the things sideways."""
    train_ids = np.full(SIZE, ROAD, np.uint8)
    train_ids[:10] = SKY
    train_ids[10:20, :40] = BUILDING
    train_ids[10:20, 40:] = VEGETATION
    train_ids[36:, :10] = cs.IGNORE_ID
    instances = np.zeros(SIZE, np.int32)
    for number, left in ((1, 5), (2, 30)):  # the two cars, 200 px each
        train_ids[22:32, left + shift:left + shift + 20] = CAR
        instances[22:32, left + shift:left + shift + 20] = number
    train_ids[12:30, 60 + shift:68 + shift] = PERSON
    instances[12:30, 60 + shift:68 + shift] = PERSON_TRACK
    return train_ids, instances


SHIFTS = (0, 2, 4)


def _rgba(path: Path, bitmask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(bitmask, "RGBA").save(path)


def _frame(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (SIZE[1], SIZE[0]), (90, 90, 90)).save(path)


@pytest.fixture(scope="module")
def kitti_step(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three KITTI-STEP val frames (two sequences) with panoptic maps: R trainId, G*256+B track id."""
    root = tmp_path_factory.mktemp("kitti_step")
    for (seq, frame), shift in zip((("0000", "000000"), ("0000", "000001"), ("0001", "000000")), SHIFTS):
        train_ids, instances = _scene(shift)
        _frame(root / "images" / "val" / seq / f"{frame}.png")
        panoptic = np.stack([train_ids, instances // 256, instances % 256], axis=-1).astype(np.uint8)
        write_png(root / "panoptic_maps" / "val" / seq / f"{frame}.png", panoptic)
    return root


@pytest.fixture(scope="module")
def bdd100k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two BDD100K val frames with RGBA pan_seg bitmasks; a crowd-flagged car and an unlabeled strip are void."""
    root = tmp_path_factory.mktemp("bdd100k")
    for name, shift in zip(("b1c66a42-6f7d68ca", "b1c9c847-3bda4659"), SHIFTS):
        train_ids, instances = _scene(shift)
        _frame(root / "images" / "10k" / "val" / f"{name}.jpg")
        category = np.zeros(SIZE, np.uint8)  # 0: unlabeled (the void corner)
        for train_id, value in BDD_CATEGORY.items():
            category[train_ids == train_id] = value
        attributes = np.zeros(SIZE, np.uint8)
        category[34:36, 60:70] = BDD_CATEGORY[CAR]  # a crowd of cars on the road
        attributes[34:36, 60:70] = 1 << 1
        instances[34:36, 60:70] = 9
        bitmask = np.stack([category, attributes, instances >> 8, instances & 255], axis=-1).astype(np.uint8)
        _rgba(root / "labels" / "pan_seg" / "bitmasks" / "val" / f"{name}.png", bitmask)
    return root


@pytest.fixture(params=["kitti_step", "bdd100k"])
def dataset(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """(layout, root) of each dataset in turn."""
    return request.param, request.getfixturevalue(request.param)


# --------------------------------------------------------------------------- the one GT home


def test_names_follow_cityscapes_names_and_maps_decode_to_instance_ids(kitti_step: Path, bdd100k: Path) -> None:
    step = ground_truth("kitti_step", kitti_step, "val")
    assert list(step) == ["0000_000000_000000", "0000_000000_000001", "0001_000000_000000"]
    assert [source.key for source in step.values()] == ["0000/000000", "0000/000001", "0001/000000"]
    ids = step["0000_000000_000000"].read()
    assert ids.dtype == np.int32 and ids.shape == SIZE
    assert ids[0, 0] == 23 and ids[25, 10] == 26001 and ids[25, 35] == 26002  # sky; cars 1 and 2
    assert ids[20, 62] == 24003 and ids[38, 0] == 0  # the track 1500 is the third instance; void
    bdd = ground_truth("bdd100k", bdd100k, "val")
    assert list(bdd) == ["frames_000000_000000", "frames_000000_000001"]  # top-level files: city "frames"
    ids = bdd["frames_000000_000000"].read()
    assert ids[35, 65] == 0 and ids[25, 10] == 26001 and ids[38, 0] == 0  # crowd-flagged car and unlabeled: void
    assert ids[15, 50] == 21 and ids[25, 75] == 7  # vegetation, road


def test_a_kitti_step_thing_without_track_is_crowd(tmp_path: Path) -> None:
    panoptic = np.zeros((2, 2, 3), np.uint8)
    panoptic[..., 0] = [[14, 13], [13, 255]]  # truck (STEP gives it no instances), car without track, car 7
    panoptic[1, 0, 2] = 7
    write_png(tmp_path / "m.png", panoptic)
    assert GtSource("kitti_step", "0/0", tmp_path / "m.png").read().tolist() == [[27, 26], [26001, 0]]


# --------------------------------------------------------------------------- predictions


def _official_prediction(root: Path, layout: str, out: Path, merge_cars_of: str | None = None) -> tuple[Path, Path]:
    """Panoptic PNGs + JSON that repeat the GT (crowd as plain segments); ``merge_cars_of``: that image's two cars
    are one segment."""
    items = []
    for name, source in ground_truth(layout, root, "val").items():
        gt = pan.official_gt_segments(source.read())
        ids = gt.ids.copy()
        if name == merge_cars_of:
            ids[ids == ids[25, 30]] = ids[25, 5]  # the first image is unshifted
        items.append((name, pan.segments_from_ids(ids, gt.classes[1:].tolist())))
    write_predictions(out / "png", out / "pred.json", items)
    return out / "pred.json", out / "png"


def _cups_export(root: Path, layout: str, out: Path, merge_cars_of: str | None = None) -> Path:
    """A CUPS label folder whose pseudo-class is the GT's CUPS class (K = 27) and whose instances are the GT's."""
    for name, source in ground_truth(layout, root, "val").items():
        classes, instances = cp.ground_truth(source.read())
        if name == merge_cars_of:
            instances[instances == instances[25, 30]] = instances[25, 5]
        semantic = classes.astype(np.uint8)
        write_png(out / f"{name}{cups_labels.SEMANTIC_SUFFIX}", semantic)
        write_png(out / f"{name}{cups_labels.INSTANCE_SUFFIX}", instances.astype(np.uint16))
        counts = cups_labels.class_distributions(semantic, instances, cp.NUM_CLASSES)
        torch.save({key: torch.from_numpy(value) for key, value in counts.items()},
                   out / f"{name}{cups_labels.PT_SUFFIX}")
    return out


def _official(root: Path, layout: str, pred: tuple[Path, Path], *extra: str) -> list[str]:
    return ["--cityscapes_root", str(root), "--gt_layout", layout, "--pred_json", str(pred[0]), "--pred_dir",
            str(pred[1]), "--workers", "1", *extra]


def _cups(root: Path, layout: str, export: Path, *extra: str) -> list[str]:
    return ["--cityscapes_root", "/nonexistent", "--gt_root", str(root), "--gt_layout", layout, "--export_dir",
            str(export), "--workers", "1", *extra]


def test_a_prediction_equal_to_the_gt_scores_100_under_both_protocols(dataset: tuple[str, Path],
                                                                       tmp_path: Path) -> None:
    layout, root = dataset
    pred = _official_prediction(root, layout, tmp_path / "official")
    assert evaluate_panoptic.main(_official(root, layout, pred, "--output", str(tmp_path / "o.json"))) == 0
    official = json.loads((tmp_path / "o.json").read_text())
    assert official["PQ"] == official["SQ"] == official["RQ"] == 100.0 and official["n_classes"] == 6
    assert official["gt_layout"] == layout and official["n_images"] == len(ground_truth(layout, root, "val"))
    export = _cups_export(root, layout, tmp_path / "cups")
    assert evaluate_cups.main(_cups(root, layout, export, "--output", str(tmp_path / "c.json"))) == 0
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["pq"] == record["sq"] == record["rq"] == 100.0
    assert record["resolution"] == "native" and record["gt_layout"] == layout
    assert sorted(name for name, row in record["per_class"].items() if row["counted"]) == [
        "building", "car", "person", "road", "sky", "vegetation"]


def test_two_cars_predicted_as_one_segment_give_the_hand_counts(dataset: tuple[str, Path], tmp_path: Path) -> None:
    """Two 200-px cars as one 400-px segment: IoU 0.5 with each, not above 0.5: two FN and one FP, under both."""
    layout, root = dataset
    first = next(iter(ground_truth(layout, root, "val")))
    cars = 2 * len(ground_truth(layout, root, "val"))
    pred = _official_prediction(root, layout, tmp_path / "official", merge_cars_of=first)
    assert evaluate_panoptic.main(_official(root, layout, pred, "--output", str(tmp_path / "o.json"))) == 0
    stats = json.loads((tmp_path / "o.json").read_text())["stats"]
    assert [stats[k][CAR] for k in ("tp", "fp", "fn")] == [cars - 2, 1, 2]
    assert sum(stats["fp"]) == 1 and sum(stats["fn"]) == 2
    export = _cups_export(root, layout, tmp_path / "cups", merge_cars_of=first)
    assert evaluate_cups.main(_cups(root, layout, export, "--output", str(tmp_path / "c.json"))) == 0
    car = json.loads((tmp_path / "c.json").read_text())["per_class"]["car"]
    assert [car[k] for k in ("tp", "fp", "fn")] == [cars - 2, 1, 2]


def test_cups_scores_at_a_fixed_size_when_asked(kitti_step: Path, tmp_path: Path) -> None:
    export = _cups_export(kitti_step, "kitti_step", tmp_path / "cups")
    assert evaluate_cups.main(_cups(kitti_step, "kitti_step", export, "--resolution", "512x1024", "--output",
                                    str(tmp_path / "c.json"))) == 0  # 40x80 x 12.8
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["resolution"] == [512, 1024] and record["pq"] == 100.0


# --------------------------------------------------------------------------- bad input


def _fails(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert "Traceback" not in message
    return message


def _copy(root: Path, tmp_path: Path) -> Path:
    """A private copy of a dataset, to break."""
    return Path(shutil.copytree(root, tmp_path / "gt"))


def test_an_unknown_class_in_a_gt_map_is_named(kitti_step: Path, bdd100k: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    step = _copy(kitti_step, tmp_path / "step")
    pred = _official_prediction(step, "kitti_step", tmp_path / "official")
    bad = step / "panoptic_maps" / "val" / "0000" / "000001.png"
    panoptic = np.array(Image.open(bad))
    panoptic[0, 0, 0] = 40
    write_png(bad, panoptic)
    output = tmp_path / "o.json"
    message = _fails(evaluate_panoptic.main, _official(step, "kitti_step", pred, "--output", str(output)), capsys)
    assert str(bad) in message and "class 40 is not a Cityscapes trainId" in message and not output.exists()
    bdd = _copy(bdd100k, tmp_path / "bdd")
    export = _cups_export(bdd, "bdd100k", tmp_path / "cups")
    bad = sorted((bdd / "labels" / "pan_seg" / "bitmasks" / "val").glob("*.png"))[1]
    bitmask = np.array(Image.open(bad))
    bitmask[0, 0, 0] = 50
    _rgba(bad, bitmask)
    message = _fails(evaluate_cups.main, _cups(bdd, "bdd100k", export, "--output", str(output)), capsys)
    assert str(bad) in message and "category 50" in message and not output.exists()


def test_a_gt_map_of_the_wrong_kind_is_named(kitti_step: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    step = _copy(kitti_step, tmp_path)
    pred = _official_prediction(step, "kitti_step", tmp_path / "official")
    bad = step / "panoptic_maps" / "val" / "0001" / "000000.png"
    write_png(bad, np.zeros(SIZE, np.uint8))  # greyscale: not a panoptic map
    message = _fails(evaluate_panoptic.main, _official(step, "kitti_step", pred), capsys)
    assert str(bad) in message and "KITTI-STEP panoptic map" in message


def test_a_missing_gt_folder_is_named(kitti_step: Path, bdd100k: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    pred = _official_prediction(kitti_step, "kitti_step", tmp_path / "official")
    message = _fails(evaluate_panoptic.main, _official(kitti_step, "kitti_step", pred, "--split", "train"), capsys)
    assert str(kitti_step / "panoptic_maps" / "train") in message
    export = _cups_export(bdd100k, "bdd100k", tmp_path / "cups")
    message = _fails(evaluate_cups.main, _cups(bdd100k, "bdd100k", export, "--split", "train"), capsys)
    assert str(bdd100k / "labels" / "pan_seg" / "bitmasks" / "train") in message


def test_a_gt_frame_without_prediction_is_named(dataset: tuple[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    layout, root = dataset
    sources = ground_truth(layout, root, "val")
    last = list(sources)[-1]
    pred_json, pred_dir = _official_prediction(root, layout, tmp_path / "official")
    data = json.loads(pred_json.read_text())
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != last]
    pred_json.write_text(json.dumps(data))
    output = tmp_path / "o.json"
    message = _fails(evaluate_panoptic.main, _official(root, layout, (pred_json, pred_dir), "--output", str(output)),
                     capsys)
    assert last in message and str(sources[last].path) in message and "cityscapes_names" in message
    export = _cups_export(root, layout, tmp_path / "cups")
    (export / f"{last}{cups_labels.SEMANTIC_SUFFIX}").unlink()
    message = _fails(evaluate_cups.main, _cups(root, layout, export, "--output", str(output)), capsys)
    assert str(export / f"{last}{cups_labels.SEMANTIC_SUFFIX}") in message and str(sources[last].path) in message
    assert "cityscapes_names" in message and not output.exists()


def test_a_gt_file_without_its_image_cannot_be_named(kitti_step: Path, tmp_path: Path) -> None:
    step = _copy(kitti_step, tmp_path)
    (step / "images" / "val" / "0001" / "000000.png").unlink()
    with pytest.raises(InputError, match="0001/000000.png: ground truth without its image"):
        ground_truth("kitti_step", step, "val")
