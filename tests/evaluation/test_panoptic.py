"""Panoptic assembly and both protocols: hand-computed cases, the per-mask oracle, cityscapesscripts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.painting import paint_instances
from pseudo_labels.evaluation import oracle
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export.cityscapes_panoptic import id_to_rgb, read_prediction, rgb_to_id, write_predictions
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_png
from pseudo_labels.instances.reference import split_instances_reference

ROAD, BUILDING, PERSON, CAR = 0, 2, 11, 13


def _segments(ids: list[list[int]], classes: list[int], crowd: list[bool] | None = None) -> pan.Segments:
    return pan.segments_from_ids(np.array(ids, np.int32), classes, crowd)


# --------------------------------------------------------------------------- hand-computed


def test_reference_iou_counts_void_and_threshold_is_strict() -> None:
    # GT car (4 px) vs predicted car (4 px): 2 px overlap + prediction spills into GT void.
    gt = _segments([[1, 1, 1, 1], [0, 0, 0, 0]], [CAR])
    exactly_half = _segments([[0, 0, 1, 1], [0, 0, 1, 1]], [CAR])  # IoU 2/6
    stats = pan.match(gt, exactly_half, pan.REFERENCE)
    assert (stats.tp[CAR], stats.fp[CAR], stats.fn[CAR]) == (0, 1, 1)
    # official: the 2 void pixels leave the union -> IoU 2/4 = 0.5, still not > 0.5
    stats = pan.match(gt, exactly_half, pan.OFFICIAL)
    assert (stats.tp[CAR], stats.fp[CAR], stats.fn[CAR]) == (0, 1, 1)
    three = _segments([[0, 1, 1, 1], [0, 0, 0, 1]], [CAR])  # 3 of 4 GT px, 1 void px
    ref, off = pan.match(gt, three, pan.REFERENCE), pan.match(gt, three, pan.OFFICIAL)
    assert ref.tp[CAR] == 1 and ref.iou[CAR] == pytest.approx(3 / 5)
    assert off.tp[CAR] == 1 and off.iou[CAR] == pytest.approx(3 / 4)


def test_class_must_agree() -> None:
    gt = _segments([[1, 1], [1, 1]], [CAR])
    pred = _segments([[1, 1], [1, 1]], [PERSON])
    stats = pan.match(gt, pred, pan.REFERENCE)
    assert stats.fn[CAR] == 1 and stats.fp[PERSON] == 1 and stats.tp.sum() == 0


def test_official_ignores_predictions_mostly_in_void_or_crowd_and_never_matches_crowd() -> None:
    # GT: a crowd car region (id 1) on the left, a person (id 2) on the right, void in the middle row.
    gt = _segments([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]], [CAR, PERSON], [True, False])
    pred = _segments([[1, 1, 2, 3, 3], [1, 1, 2, 3, 3]], [CAR, BUILDING, PERSON])
    official = pan.match(gt, pred, pan.OFFICIAL)
    # car prediction == crowd region: not a TP, and not an FP (all inside crowd); building lies in void
    assert official.tp[CAR] == 0 and official.fp[CAR] == 0 and official.fn[CAR] == 0
    assert official.fp[BUILDING] == 0
    assert official.tp[PERSON] == 1 and official.iou[PERSON] == 1.0
    reference = pan.match(gt, pred, pan.REFERENCE)
    assert reference.tp[CAR] == 1 and reference.fp[BUILDING] == 1  # the reference has no void rules


def test_paint_instances_keeps_overlap_for_earlier_and_frees_pixels_of_skipped() -> None:
    # instance 0 (big) and 1 overlap on one pixel; instance 2 adds fewer than 2 new pixels.
    first = np.array([[0, 0, 0, 1, 2]], np.int32)
    second = np.array([[-1, -1, 1, -1, -1]], np.int32)
    found = inst.Instances.from_maps([CAR, CAR, CAR], [3, 2, 1], first, second)
    owner, painted = paint_instances(found, min_new_pixels=2)
    assert painted.tolist() == [True, False, False]
    assert owner.tolist() == [0, 0, 0, -1, -1]
    # nothing is painted when every instance adds fewer than 4 new pixels
    owner, painted = paint_instances(found, min_new_pixels=4)
    assert painted.tolist() == [False, False, False] and (owner == -1).all()
    # if instance 0 is not painted, the pixel it shares with instance 1 goes to instance 1
    found = inst.Instances.from_maps([CAR, CAR], [2, 3], np.array([[0, 0, 1, 1]]), np.array([[-1, 1, -1, -1]]))
    owner, painted = paint_instances(found, min_new_pixels=3)
    assert painted.tolist() == [False, True] and owner.tolist() == [-1, 1, 1, 1]


def test_reference_gt_segments_drop_small_crowd_and_caravan() -> None:
    train_ids = np.zeros((10, 10), np.uint8)  # road 100 px
    train_ids[0, :5] = BUILDING  # 5 px of building: below 64
    instance_ids = np.full((10, 10), 7, np.int32)
    instance_ids[0, :5] = 11
    instance_ids[5:8, 0:4] = 26001  # 12 px car
    instance_ids[9, 0:3] = 26002  # 3 px car: below 10
    instance_ids[9, 5:9] = 24  # crowd person
    instance_ids[8, 5:9] = 29000  # caravan: not evaluated
    train_ids[5:8, 0:4] = CAR
    gt = pan.reference_gt_segments(train_ids, instance_ids)
    assert gt.classes.tolist() == [255, ROAD, CAR]
    assert (gt.ids == 2).sum() == 12 and (gt.ids[0, :5] == 0).all()


def test_official_gt_segments_follow_create_panoptic_imgs() -> None:
    instance_ids = np.array([[7, 7, 26000, 26001], [24, 0, 1, 29000]], np.int32)
    gt = pan.official_gt_segments(instance_ids)
    assert gt.classes.tolist() == [255, ROAD, PERSON, CAR, CAR]
    assert gt.crowd.tolist() == [False, False, True, False, False]
    assert gt.ids.tolist() == [[1, 1, 3, 4], [2, 0, 0, 0]]


# --------------------------------------------------------------------------- fast == oracle


def _random_image(seed: int, height: int, width: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    block = 4
    coarse = lambda p: np.kron(rng.choice(len(p), size=(height // block + 1, width // block + 1), p=p),  # noqa: E731
                               np.ones((block, block), int))[:height, :width]
    classes = np.array([ROAD, BUILDING, 10, PERSON, CAR, 18])
    semantic = classes[coarse([0.3, 0.15, 0.05, 0.2, 0.25, 0.05])].astype(np.uint8)
    gt_train = classes[coarse([0.3, 0.15, 0.05, 0.2, 0.25, 0.05])].astype(np.uint8)
    gt_train[rng.random((height, width)) < 0.03] = 255
    instance_ids = cs.TRAIN_ID_TO_LABEL_ID[np.minimum(gt_train, 18)].astype(np.int32)
    instance_ids[gt_train == 255] = 0
    pieces = coarse([0.25] * 4)
    things = cs.IS_THING[gt_train]
    crowd = rng.random() < 0.5
    instance_ids[things] = instance_ids[things] * 1000 + pieces[things]
    if crowd:
        instance_ids[things & (pieces == 3)] //= 1000
    depth = np.kron(rng.random((height // 5 + 1, width // 5 + 1)), np.ones((5, 5)))[:height, :width]
    return semantic, depth, gt_train, instance_ids


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(12, 48), width=st.integers(12, 48),
       tau=st.sampled_from([None, 0.1, 0.3]), min_area=st.sampled_from([5, 20, 60]))
def test_fast_reference_protocol_equals_per_mask_oracle(seed: int, height: int, width: int, tau: float | None,
                                                        min_area: int) -> None:
    semantic, depth, gt_train, instance_ids = _random_image(seed, height, width)
    if tau is None:
        fast_inst = inst.cc_instances(semantic)
        slow_inst = split_instances_reference(semantic, None, None, inst.CC_MIN_AREA)
    else:
        fast_inst = inst.split_instances(semantic, inst.depth_gradient(depth), tau, min_area)
        slow_inst = split_instances_reference(semantic, depth, tau, min_area)
    pred = pan.predicted_segments(semantic, fast_inst, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
    gt = pan.reference_gt_segments(gt_train, instance_ids)
    fast = pan.match(gt, pred, pan.REFERENCE)
    slow = oracle.evaluate_image(semantic, slow_inst, gt_train, instance_ids)
    assert fast.counts_equal(slow)
    np.testing.assert_allclose(fast.iou, slow.iou, rtol=0, atol=1e-12)


def test_stats_add_and_round_trip() -> None:
    a = pan.PanopticStats()
    a.tp[0], a.fp[1], a.iou[0] = 2, 1, 1.5
    b = pan.PanopticStats.from_dict(json.loads(json.dumps(a.to_dict())))
    total = a + b
    assert total.tp[0] == 4 and total.fp[1] == 2 and total.iou[0] == 3.0 and a.tp[0] == 2


def test_reference_summary_pools_sq_and_rq() -> None:
    stats = pan.PanopticStats()
    stats.tp[ROAD], stats.iou[ROAD] = 1, 0.9          # PQ 0.9
    stats.tp[CAR], stats.fp[CAR], stats.fn[CAR], stats.iou[CAR] = 1, 1, 1, 0.6  # SQ .6 RQ .5 PQ .3
    ref = pan.reference_summary(stats)
    assert ref["PQ"] == pytest.approx(60.0) and ref["PQ_stuff"] == pytest.approx(90.0)
    assert ref["PQ_things"] == pytest.approx(30.0)
    assert ref["SQ"] == pytest.approx(75.0) and ref["RQ"] == pytest.approx(200 / 3)
    off = pan.official_summary(stats)
    assert off["PQ"] == pytest.approx(60.0) and off["SQ"] == pytest.approx(75.0) and off["RQ"] == pytest.approx(75.0)
    assert off["n_classes"] == 2 and off["n_classes_things"] == 1


# --------------------------------------------------------------------------- against cityscapesscripts


def test_panoptic_png_round_trip(tmp_path: Path) -> None:
    ids = np.array([[0, 1, 300], [70000, 2, 2]])
    assert np.array_equal(rgb_to_id(id_to_rgb(ids)), ids)
    segments = _segments([[0, 1, 1], [2, 2, 3]], [ROAD, CAR, PERSON])
    write_predictions(tmp_path / "pred", tmp_path / "pred.json", [("x_000000_000001", segments)])
    entry = json.loads((tmp_path / "pred.json").read_text())["annotations"][0]
    assert [s["category_id"] for s in entry["segments_info"]] == [7, 26, 24]
    assert entry["segments_info"][1]["bbox"] == [0, 1, 2, 1]
    back = read_prediction(tmp_path / "pred" / entry["file_name"], entry)
    assert np.array_equal(back.ids, segments.ids) and np.array_equal(back.classes, segments.classes)


def test_read_prediction_with_large_ids(tmp_path: Path) -> None:
    """Stored ids above the lookup-table range go through binary search; colours decode in RGB order."""
    stored = np.array([[0, 26001, 26001], [2**22 + 5, 2**22 + 5, 7]])
    write_png(tmp_path / "p.png", id_to_rgb(stored))
    entry = {"image_id": "x", "segments_info": [{"id": 26001, "category_id": 26}, {"id": 2**22 + 5, "category_id": 24},
                                                  {"id": 7, "category_id": 7}]}
    back = read_prediction(tmp_path / "p.png", entry)
    assert back.ids.tolist() == [[0, 2, 2], [3, 3, 1]] and back.classes.tolist() == [255, ROAD, CAR, PERSON]
    entry["segments_info"].pop(1)
    with pytest.raises(InputError, match=r"segment ids \[4194309\] are in the PNG"):
        read_prediction(tmp_path / "p.png", entry)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), height=st.integers(12, 40), width=st.integers(12, 40),
       scale=st.sampled_from([1, 2, 3]), tau=st.sampled_from([None, 0.1, 0.3]))
def test_shared_image_evaluator_equals_direct_match(seed: int, height: int, width: int, scale: int,
                                                    tau: float | None) -> None:
    """The sweep's per-image scorer (stuff counted once, things per config) == assembling and matching directly."""
    from pseudo_labels.evaluation.sweep import ImageEvaluator

    semantic, depth, gt_train, instance_ids = _random_image(seed, height, width)
    found = inst.cc_instances(semantic) if tau is None else inst.split_instances(semantic, inst.depth_gradient(depth), tau, 8)
    things = inst.thing_pixels(semantic)
    ref_gt = pan.reference_gt_segments(gt_train, instance_ids)
    direct = pan.match(ref_gt, pan.predicted_segments(semantic, found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA),
                       pan.REFERENCE)
    shared = ImageEvaluator(semantic, things, ref_gt, pan.REFERENCE).stats(found)
    assert shared.counts_equal(direct) and np.allclose(shared.iou, direct.iou, rtol=0, atol=1e-12)
    big = np.kron(instance_ids, np.ones((scale, scale), np.int32))[: height * scale - scale // 2]  # odd sizes too
    off_gt = pan.official_gt_segments(big)
    pred = pan.predicted_segments(semantic, found, 1, 1)
    full = pred.resized(big.shape)
    direct = pan.match(off_gt, full, pan.OFFICIAL)
    shared = ImageEvaluator(semantic, things, off_gt, pan.OFFICIAL).stats(found)
    assert shared.counts_equal(direct) and np.allclose(shared.iou, direct.iou, rtol=0, atol=1e-12)
