"""The CUPS protocol: hand-computed cases for each of its rules, and the fast tables against the literal transcription."""

from __future__ import annotations

import numpy as np
import pytest

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_scores import score_tables, summary
from pseudo_labels.evaluation.cups_reference import reference_image_stats, reference_score

ROAD, WALL, POLE, PERSON, CAR, TRUCK = (cs.CAUSE27_NAMES.index(n) for n in ("road", "wall", "pole", "person", "car",
                                                                              "truck"))


def table(pseudo: np.ndarray, instance: np.ndarray, instance_ids: np.ndarray) -> cp.ImageTable:
    return cp.image_table(pseudo, instance, cp.gt_segments(*cp.ground_truth(instance_ids)))


def stats_of(pseudo: np.ndarray, instance: np.ndarray, instance_ids: np.ndarray, classes: dict[int, int]
             ) -> cp.CupsStats:
    lookup = np.full(256, cp.VOID, np.int64)
    for k, c in classes.items():
        lookup[k] = c
    fast = cp.image_stats(table(pseudo, instance, instance_ids), lookup)
    slow = reference_image_stats((lookup[pseudo], instance), cp.ground_truth(instance_ids))
    for name in ("tp", "fp", "fn"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert np.allclose(fast.iou, slow.iou, rtol=0, atol=1e-12)
    return fast


# --------------------------------------------------------------------------- ground truth


def test_ground_truth_follows_cups_value_rules() -> None:
    values = np.array([[0, 7, 26, 24000, 26002, 33001, 1000 + 1]], np.int32)  # 1001: labelId 1, void
    classes, instances = cp.ground_truth(values)
    assert classes.tolist() == [[255, ROAD, CAR, PERSON, CAR, 26, 255]]
    # 24000 (the first person, index 000) is kept: CUPS tests >= 24000; crowd (26) has no instance
    assert instances.tolist() == [[0, 0, 0, 1, 2003, 9002, 0]]


def test_ground_truth_refuses_label_ids_cups_cannot_map() -> None:
    with pytest.raises(InputError, match="labelId 1000 is not a Cityscapes labelId"):
        cp.ground_truth(np.array([[1000]], np.int32), "x.png")


# --------------------------------------------------------------------------- segments (one image)


def test_crowd_is_an_ordinary_segment_that_can_be_a_true_positive() -> None:
    gt = np.full((4, 8), 7, np.int32)  # road
    gt[:, 4:6] = 26  # a car crowd region
    gt[:, 6:] = 26000  # one car
    pseudo = np.zeros((4, 8), np.uint8)
    pseudo[:, 4:] = 1
    instance = np.zeros((4, 8), np.uint16)
    instance[:, 4:6], instance[:, 6:] = 1, 2
    stats = stats_of(pseudo, instance, gt, {0: ROAD, 1: CAR})
    assert (stats.tp[CAR], stats.fp[CAR], stats.fn[CAR]) == (2, 0, 0)  # the official protocol ignores the crowd
    assert (stats.tp[ROAD], stats.iou[ROAD]) == (1, 1.0)


def test_an_unmatched_prediction_on_crowd_is_a_false_positive_and_the_crowd_a_false_negative() -> None:
    gt = np.full((4, 8), 7, np.int32)
    gt[:, 4:] = 26  # crowd of 16 px
    pseudo = np.zeros((4, 8), np.uint8)
    pseudo[:, 6:] = 1  # 8 px of car: IoU 0.5 with the crowd, not > 0.5
    instance = np.zeros((4, 8), np.uint16)
    instance[:, 6:] = 1
    stats = stats_of(pseudo, instance, gt, {0: ROAD, 1: CAR})
    assert (stats.tp[CAR], stats.fp[CAR], stats.fn[CAR]) == (0, 1, 1)


def test_void_leaves_the_union_on_both_sides_and_excuses_mostly_void_segments() -> None:
    gt = np.full((10, 10), 7, np.int32)  # 100 px road
    gt[:, 6:] = 0  # 40 px GT void
    gt[8:, :6] = 12  # 12 px wall (labelId 12)
    pseudo = np.zeros((10, 10), np.uint8)  # road everywhere ...
    pseudo[8:, :6] = 255  # ... except the wall, predicted void
    pseudo[8:, :2] = 2  # 4 px of the wall predicted as wall
    pseudo[:3, 6:] = 3  # 12 px of pole, all on GT void
    stats = stats_of(pseudo, np.zeros((10, 10), np.uint16), gt, {0: ROAD, 2: WALL, 3: POLE})
    # road: prediction 48 px road + 28 px on void; union = 76 - 28 + 48 - 0 - 48 = 48 -> IoU 1
    assert (stats.tp[ROAD], stats.iou[ROAD]) == (1, 1.0)
    # wall: 4 px predicted wall, 8 predicted void: IoU 4 / (4 + 12 - 8 - 4) = 1
    assert (stats.tp[WALL], stats.iou[WALL]) == (1, 1.0)
    assert stats.fp[POLE] == 0  # all on GT void


def test_a_gt_segment_mostly_predicted_void_is_no_false_negative() -> None:
    gt = np.full((4, 8), 7, np.int32)
    gt[:, 4:] = 24000  # a person of 16 px
    pseudo = np.zeros((4, 8), np.uint8)
    pseudo[:, 4:] = 255
    pseudo[:, 7:] = 1  # 4 px of it predicted as a person pseudo-class, 12 void
    instance = (pseudo == 1).astype(np.uint16)
    stats = stats_of(pseudo, instance, gt, {0: ROAD, 1: PERSON})
    # IoU = 4 / (4 + 16 - 12 - 4) = 1 -> a true positive despite covering a quarter
    assert (stats.tp[PERSON], stats.fn[PERSON], stats.fp[PERSON]) == (1, 0, 0)
    pseudo[:, 7:] = 255
    stats = stats_of(pseudo, np.zeros_like(instance), gt, {0: ROAD})
    assert stats.fn[PERSON] == 0  # entirely predicted void: excused


def test_stuff_pseudo_classes_of_one_class_merge_and_lose_their_instances() -> None:
    gt = np.full((4, 8), 7, np.int32)
    pseudo = np.zeros((4, 8), np.uint8)
    pseudo[:, 4:] = 1
    instance = np.arange(32, dtype=np.uint16).reshape(4, 8)  # instances on stuff are ignored
    stats = stats_of(pseudo, instance, gt, {0: ROAD, 1: ROAD})
    assert (stats.tp[ROAD], stats.fp[ROAD], stats.iou[ROAD]) == (1, 0, 1.0)


# --------------------------------------------------------------------------- matching


def test_many_to_one_rows_left_by_the_hungarian_take_the_first_maximum() -> None:
    cost = np.zeros((11, 10), np.float32)
    cost[np.arange(10), np.arange(10)] = 1000  # ten dominant rows: a unique optimum
    cost[10, [0, 2]] = 5  # a tie between column 0 and column 2
    assert cp.match_rows(cost).tolist() == [*range(10), 0]


def test_the_hungarian_gives_an_all_zero_column_a_row() -> None:
    cost = np.zeros((3, 2), np.float32)
    cost[:, 0] = [10, 9, 8]
    assignment = cp.match_rows(cost)
    assert assignment[0] == 0 and 1 in assignment.tolist()  # column 1 (absent from the GT) still gets a row


def test_thing_rows_follow_cpythons_set_order_as_in_cups() -> None:
    stuffs, things = tuple(range(60)), tuple(range(60, 70))
    cost = np.zeros((70, 27), np.float32)  # all ties: the row order alone decides
    assignment = cp.pq_assignment(cost, things, stuffs)
    order = list(set(tuple(range(60, 70))).copy())
    assert order != sorted(order)  # [64..69, 60..63]
    assert [assignment[k] for k in order] == list(cp.THING_CLASSES)
    assert assignment[60] == cp.THING_CLASSES[6]  # ascending rows would have given person
    assert set(assignment[:60]) <= set(cp.STUFF_CLASSES)


def test_label_space_puts_stuff_first_in_split_order() -> None:
    assert cp.label_space(things=(5, 2), stuffs=(0, 4, 1, 3)).tolist() == [0, 4, 1, 3, 5, 2]


def test_batched_float32_sum_rounds_like_cups_beyond_two_to_the_24() -> None:
    big = np.array([[2 ** 24]], np.int64)
    one = np.array([[1]], np.int64)
    # within a batch the integers add exactly; across batches float32 rounds 2**24 + 1 down
    assert cp.batched_float32_sum([big, one, one, one], batch_size=4)[0, 0] == 2 ** 24 + 3
    assert cp.batched_float32_sum([big, one], batch_size=1)[0, 0] == 2 ** 24


# --------------------------------------------------------------------------- aggregation


def test_summary_counts_classes_with_a_denominator_and_uses_float32_rq() -> None:
    stats = cp.CupsStats()
    stats.tp[ROAD], stats.iou[ROAD] = 2, 1.5
    stats.fp[CAR], stats.fn[CAR] = 1, 2
    record = summary(stats)
    assert record["per_class"]["road"]["pq"] == pytest.approx(75.0)
    assert record["pq"] == pytest.approx(37.5) and record["pq_things"] == 0.0  # car counts with PQ 0
    assert record["per_class"]["wall"]["counted"] is False
    assert record["rq"] == pytest.approx(50.0)
    assert summary(cp.CupsStats())["pq"] is None  # no class counts: CUPS gives NaN


# --------------------------------------------------------------------------- the whole protocol


def random_scene(rng: np.random.Generator, num_pseudo: int, shape: tuple[int, int] = (24, 40)
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Blocky random GT (stuff, instances, crowd, void) and a prediction that partly follows it."""
    cells = (shape[0] // 4, shape[1] // 4)
    label_ids = rng.choice([0, 4, 7, 8, 11, 17, 21, 23, 24, 26, 28, 33], size=cells)
    index = rng.integers(0, 3, size=cells)
    values = np.where(np.isin(label_ids, [24, 26, 28, 33]) & (index > 0), label_ids * 1000 + index, label_ids)
    gt = np.kron(values, np.ones((4, 4), np.int64)).astype(np.int32)
    pseudo = (np.kron(label_ids % num_pseudo, np.ones((4, 4), np.int64))).astype(np.uint8)
    noise = rng.random(shape) < 0.15
    pseudo[noise] = rng.integers(0, num_pseudo, noise.sum())
    pseudo[rng.random(shape) < 0.03] = 255
    instance = np.kron(rng.integers(0, 4, size=cells), np.ones((4, 4), np.int64)).astype(np.uint16)
    classes, instances = cp.ground_truth(gt)
    return pseudo, instance, classes, instances


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tables_score_as_the_literal_transcription_on_random_scenes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_pseudo = 14
    images = [random_scene(rng, num_pseudo) for _ in range(6)]
    things = tuple(int(x) for x in rng.permutation(num_pseudo)[:4])
    stuffs = tuple(k for k in rng.permutation(num_pseudo).tolist() if k not in things)
    fast = score_tables([cp.image_table(p, i, cp.gt_segments(c, n)) for p, i, c, n in images], things, stuffs)
    slow = reference_score(images, things, stuffs)
    assert fast["assignment_pq"] == slow["assignment_pq"]
    assert fast["assignment_miou"] == slow["assignment_miou"]
    for name, row in fast["per_class"].items():
        other = slow["per_class"][name]
        assert (row["tp"], row["fp"], row["fn"]) == (other["tp"], other["fp"], other["fn"]), name
        assert row["pq"] == pytest.approx(other["pq"], abs=1e-9)
    for key in ("pq", "sq", "pq_things", "pq_stuff"):
        assert fast[key] == pytest.approx(slow[key], abs=1e-9)
    for key in ("rq", "miou", "acc"):
        assert fast[key] == pytest.approx(slow[key], abs=1e-6)
    assert fast["things"] == list(things) and fast["stuffs"] == list(stuffs)


def test_classes_absent_from_the_gt_still_get_a_pseudo_class_and_count_with_pq_zero() -> None:
    """11 thing pseudo-classes for 10 thing classes, only cars in the GT: the Hungarian gives each absent thing
    class one of the small pseudo-classes, whose pixels become false positives of that class."""
    gt = np.full((8, 40), 7, np.int32)  # road
    gt[:4, :] = 26000  # one car over the top half
    pseudo = np.zeros((8, 40), np.uint8)
    pseudo[:4, :] = 1
    pseudo[0, 1:11] = np.arange(2, 12)  # pseudo-classes 2..11: one car pixel each
    instance = np.where(pseudo > 0, pseudo, 0).astype(np.uint16)
    tables = [cp.image_table(pseudo, instance, cp.gt_segments(*cp.ground_truth(gt)))]
    record = score_tables(tables, things=tuple(range(1, 12)), stuffs=(0,))
    absent_things = [cp.CLASS_NAMES[c] for c in cp.THING_CLASSES if c != CAR]
    assert set(absent_things) <= set(record["absent_classes"]) and "car" not in record["absent_classes"]
    forced = record["forced_onto_absent"]["pq"]
    assert sorted(forced) == sorted(absent_things) and all(len(ids) == 1 for ids in forced.values())
    for name in absent_things:
        row = record["per_class"][name]
        assert row["counted"] and row["pq"] == 0.0 and row["fp"] == 1
    assert record["assignment_pq"][0] == ROAD and record["assignment_pq"][1] == CAR
    assert record["pq_things"] == pytest.approx(record["per_class"]["car"]["pq"] / 10)
