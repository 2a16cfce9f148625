"""Per-segment error statuses on tiny hand-made maps; their totals equal the protocol's TP/FP/FN."""

from __future__ import annotations

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import segment_errors as se

ROAD, BUILDING, PERSON, CAR = 0, 2, 11, 13


def _segments(ids: list[list[int]], classes: list[int], crowd: list[bool] | None = None) -> pan.Segments:
    return pan.segments_from_ids(np.array(ids, np.int32), classes, crowd)


def test_split_object_is_split_not_a_miss_and_its_pieces_are_not_plain_false_positives() -> None:
    gt = _segments([[1, 1, 1, 1, 1, 1, 1, 1]] * 2, [CAR])
    pred = _segments([[1, 1, 1, 1, 2, 2, 2, 2]] * 2, [CAR, CAR])  # each half: IoU 0.5, not > 0.5
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.gt.tolist() == [se.VOID, se.SPLIT]
    assert errors.pred.tolist() == [se.VOID, se.SPLIT, se.SPLIT]
    stats = pan.match(gt, pred, pan.REFERENCE)
    assert (stats.tp[CAR], stats.fp[CAR], stats.fn[CAR]) == (0, 2, 1)  # what PQ counts; the status says why
    assert errors.counts(gt, pred, things=True) == {
        "TP": 0, "FP": 0, "FN": 0, "split": 3, "merge": 0, "ignored": 0}


def test_matched_object_with_an_extra_fragment_marks_the_fragment_split() -> None:
    gt = _segments([[1] * 10] * 2, [CAR])
    pred = _segments([[1] * 8 + [2] * 2] * 2, [CAR, CAR])  # IoU 0.8 and a 2-column fragment
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.gt.tolist() == [se.VOID, se.TP]
    assert errors.pred.tolist() == [se.VOID, se.TP, se.SPLIT]


def test_false_positive_is_visible_where_gt_has_no_object() -> None:
    gt = _segments([[1, 1, 1, 1], [1, 1, 1, 1]], [ROAD])
    pred = _segments([[1, 1, 2, 2], [1, 1, 2, 2]], [ROAD, CAR])
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.pred.tolist() == [se.VOID, se.FP, se.FP]  # road IoU 0.5 (not > 0.5), the car has no GT
    assert errors.gt.tolist() == [se.VOID, se.FN]
    assert errors.counts(gt, pred, things=True)["FP"] == 1
    assert errors.counts(gt, pred, things=False) == {
        "TP": 0, "FP": 1, "FN": 1, "split": 0, "merge": 0, "ignored": 0}


def test_merge_of_two_people_into_one_prediction() -> None:
    gt = _segments([[1, 1, 1, 2, 2, 2]] * 2, [PERSON, PERSON])
    pred = _segments([[1, 1, 1, 1, 1, 1]] * 2, [PERSON])
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.gt.tolist() == [se.VOID, se.MERGE, se.MERGE]
    assert errors.pred.tolist() == [se.VOID, se.MERGE]


def test_pieces_of_another_class_do_not_make_a_split() -> None:
    gt = _segments([[1, 1, 1, 1]] * 2, [CAR])
    pred = _segments([[1, 1, 2, 2]] * 2, [CAR, PERSON])
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.gt.tolist() == [se.VOID, se.FN]
    assert errors.pred.tolist() == [se.VOID, se.FP, se.FP]


def test_miss_and_match() -> None:
    gt = _segments([[1, 1, 2, 2], [1, 1, 2, 2]], [CAR, PERSON])
    pred = _segments([[1, 1, 0, 0], [1, 1, 0, 0]], [CAR])
    errors = se.classify(gt, pred, pan.REFERENCE)
    assert errors.gt.tolist() == [se.VOID, se.TP, se.FN]
    assert errors.pred.tolist() == [se.VOID, se.TP]


def test_official_ignores_crowd_gt_and_predictions_in_void() -> None:
    gt = _segments([[1, 1, 0, 0], [1, 1, 0, 0]], [CAR], crowd=[True])
    pred = _segments([[1, 1, 2, 2], [1, 1, 2, 2]], [CAR, BUILDING])
    errors = se.classify(gt, pred, pan.OFFICIAL)
    assert errors.gt.tolist() == [se.VOID, se.IGNORED]
    assert errors.pred.tolist() == [se.VOID, se.IGNORED, se.IGNORED]
    # the reference protocol has no crowd and no void exemption (its GT never flags crowd)
    assert se.classify(gt, pred, pan.REFERENCE).pred.tolist() == [se.VOID, se.TP, se.FP]


def test_prediction_is_resized_to_official_gt() -> None:
    gt = _segments([[1, 1, 2, 2]] * 2, [ROAD, CAR])
    pred = _segments([[1, 2]], [ROAD, CAR])  # half size each way
    assert se.classify(gt, pred, pan.OFFICIAL).pred.tolist() == [se.VOID, se.TP, se.TP]


def test_class_agnostic_matching_of_label_free_things() -> None:
    gt = se.class_agnostic(_segments([[1, 1, 2, 2]] * 2, [ROAD, PERSON]))
    assert gt.classes.tolist() == [255, ROAD, se.AGNOSTIC_THING]
    pred = se.label_free_prediction((2, 4), inst.cc_instances(np.array([[0, 0, 13, 13]] * 2, np.uint8), 1), pan.OFFICIAL)
    assert pred.classes.tolist() == [255, se.AGNOSTIC_THING] and pred.ids.tolist() == [[0, 0, 1, 1]] * 2
    assert se.classify(gt, pred, pan.OFFICIAL).pred.tolist() == [se.VOID, se.TP]


def test_image_scores_nan_without_things_and_worst_first() -> None:
    gt = _segments([[1, 1], [1, 1]], [ROAD])
    scores = se.image_scores(gt, _segments([[1, 1], [1, 1]], [ROAD]), pan.REFERENCE)
    assert scores["PQ_stuff"] == pytest.approx(100.0) and np.isnan(scores["PQ_things"])
    assert se.worst_first({"a": 50.0, "b": float("nan"), "c": 10.0, "d": 50.0}) == ["c", "a", "d", "b"]


def _random_scene(seed: int, height: int = 40, width: int = 56) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocky random GT (trainIds, instanceIds with some crowd), a noisy copy as prediction, and depth that
    follows the GT instances in some blocks, is noise or flat in others (so TPs, splits and merges all occur)."""
    rng = np.random.default_rng(seed)

    def blocks(values: np.ndarray, p: list[float], block: int) -> np.ndarray:
        coarse = rng.choice(values, size=(height // block + 1, width // block + 1), p=p)
        return np.kron(coarse, np.ones((block, block), coarse.dtype))[:height, :width]

    classes = np.array([ROAD, BUILDING, PERSON, CAR], np.uint8)
    gt_train = blocks(classes, [0.3, 0.2, 0.2, 0.3], 8)
    semantic = np.where(blocks(np.array([False, True]), [0.8, 0.2], 4), blocks(classes, [0.25] * 4, 4), gt_train)
    gt_train[rng.random((height, width)) < 0.03] = cs.IGNORE_ID
    label_ids = cs.TRAIN_ID_TO_LABEL_ID[np.minimum(gt_train, cs.NUM_CLASSES - 1)].astype(np.int32)
    label_ids[gt_train == cs.IGNORE_ID] = 0
    grid = (height // 8 + 1, width // 8 + 1)
    pieces = np.kron(np.arange(1, grid[0] * grid[1] + 1).reshape(grid), np.ones((8, 8), int))[:height, :width]
    things = cs.IS_THING[gt_train]
    instance_ids = np.where(things, label_ids * 1000 + pieces, label_ids)  # one instance per 8x8 block
    instance_ids[things & (pieces % 5 == 0)] //= 1000  # crowd
    noise = np.kron(rng.random((height // 6 + 1, width // 6 + 1)), np.ones((6, 6)))[:height, :width]
    kind = blocks(np.arange(3), [0.4, 0.3, 0.3], 12)  # depth follows the instances / is noise / is flat
    depth = np.select([kind == 0, kind == 1], [pieces / pieces.max(), noise], 0.5)
    return semantic, gt_train, instance_ids, depth


def _checked_errors(protocol: str, seed: int) -> se.SegmentErrors:
    """Statuses of a random scene, after checking that they add up to the protocol's TP/FP/FN per class."""
    semantic, gt_train, instance_ids, depth = _random_scene(seed)
    eval_size = (20, 28) if seed % 2 else semantic.shape  # the official protocol then upsamples the prediction
    semantic, depth = cs.resize_nearest(semantic, eval_size), cs.resize_nearest(depth, eval_size)
    pred = se.prediction(semantic, inst.split_instances(semantic, inst.depth_gradient(depth, 0.5), 0.1, 6), protocol)
    gt = se.ground_truth(gt_train, instance_ids, protocol, eval_size)
    errors = se.classify(gt, pred, protocol)
    stats = pan.match(gt, pred.resized(gt.ids.shape), protocol)

    def per_class(classes: np.ndarray, status: np.ndarray, wanted: tuple[int, ...]) -> np.ndarray:
        return np.bincount(classes[np.isin(status, wanted)], minlength=256)[: cs.NUM_CLASSES]

    np.testing.assert_array_equal(per_class(pred.classes, errors.pred, (se.TP,)), stats.tp)
    np.testing.assert_array_equal(per_class(gt.classes, errors.gt, (se.TP,)), stats.tp)
    np.testing.assert_array_equal(per_class(pred.classes, errors.pred, se.COUNTED_FP), stats.fp)
    np.testing.assert_array_equal(per_class(gt.classes, errors.gt, se.COUNTED_FN), stats.fn)
    assert np.isin(errors.gt[1:], (se.TP, *se.COUNTED_FN, se.IGNORED)).all()
    return errors


@pytest.mark.parametrize("protocol", pan.PROTOCOLS)
@pytest.mark.parametrize("seed", range(8))
def test_statuses_add_up_to_the_protocols_counts(protocol: str, seed: int) -> None:
    _checked_errors(protocol, seed)


def test_random_scenes_hold_every_status() -> None:
    """The parity test above is only as good as its scenes: they must hold TPs, splits and merges."""
    seen = set()
    for seed in range(8):
        for protocol in pan.PROTOCOLS:
            errors = _checked_errors(protocol, seed)
            seen |= set(errors.gt.tolist()) | set(errors.pred.tolist())
    assert seen == set(range(7)), [se.STATUS_NAMES[s] for s in sorted(set(range(7)) - seen)]
