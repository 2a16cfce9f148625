"""What went wrong, segment by segment: TP, FP, FN, splits and merges of one image under a protocol.

Pure functions over :class:`~pseudo_labels.evaluation.panoptic.Segments`, for pictures and
per-image tables; drawing lives in :mod:`pseudo_labels.report.pictures`. The
matching is the protocol's own (:func:`pseudo_labels.evaluation.panoptic.matched_segments`),
so the statuses add up to the protocol's counts (tested):

* a matched pair is ``TP`` on both sides;
* an unmatched GT segment is ``FN``, unless it is **split** (two or more
  same-class predictions lie mostly inside it: ``SPLIT``) or **merged** (it lies
  mostly inside a same-class prediction that also holds another GT segment:
  ``MERGE``); either way it counts as a false negative;
* an unmatched prediction is ``FP``, unless it is a fragment of a split
  object (it lies mostly inside a same-class GT segment that holds another
  same-class prediction: ``SPLIT``), or merges two or more same-class GT
  segments (``MERGE``); it still counts as a false positive. Under the
  official protocol a prediction lying > 50 % in void or same-class crowd is
  ``IGNORED`` (not a false positive), and crowd GT segments are ``IGNORED``.

"Mostly inside" means more than half of the segment's own pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.cups_scores import summary
from pseudo_labels.instances.painting import one_class_per_instance
from pseudo_labels.instances.splitting import Instances

VOID, TP, FP, FN, SPLIT, MERGE, IGNORED = range(7)
STATUS_NAMES = ("void", "TP", "FP", "FN", "split", "merge", "ignored")
COUNTED_FP = (FP, SPLIT, MERGE)
"""Prediction statuses the protocol counts as false positives."""
COUNTED_FN = (FN, SPLIT, MERGE)
"""GT statuses the protocol counts as false negatives."""

AGNOSTIC_THING = cs.THING_TRAIN_IDS[0]
"""The one class every thing gets in class-agnostic matching (label-free labels know no classes)."""


@dataclass(frozen=True)
class SegmentErrors:
    """Status of every segment: ``gt`` (n_gt+1,) and ``pred`` (n_pred+1,) int8, index = segment id, 0 = void."""

    gt: np.ndarray
    pred: np.ndarray

    def counts(self, gt: pan.Segments, pred: pan.Segments, things: bool) -> dict[str, int]:
        """How many segments of each status among the thing (or stuff) segments, GT and predicted together.

        ``TP`` counts pairs once; ``split``/``merge`` count the GT objects split
        or merged plus the predictions that form them.
        """
        gt_kind = gt.is_thing == things
        pred_kind = pred.is_thing == things
        gt_kind[0] = pred_kind[0] = False
        result = {}
        for status in (TP, FP, FN, SPLIT, MERGE, IGNORED):
            n_gt = int(np.count_nonzero(gt_kind & (self.gt == status)))
            n_pred = int(np.count_nonzero(pred_kind & (self.pred == status)))
            result[STATUS_NAMES[status]] = n_pred if status == TP else n_gt + n_pred
        return result


def classify(gt: pan.Segments, pred: pan.Segments, protocol: str) -> SegmentErrors:
    """Per-segment status of ``pred`` against ``gt`` under ``protocol`` (``pred`` is resized to GT's size).

    Under the CUPS protocol crowd regions are ordinary segments, and the
    segments torchmetrics excuses (a GT segment mostly predicted void, a
    prediction mostly on GT void) are ``IGNORED``.
    """
    pred = pred.resized(gt.ids.shape)
    counts = pan.pair_counts(gt, pred)
    ignored_gt = np.zeros(gt.count + 1, bool)
    ignored_pred = np.zeros(pred.count + 1, bool)
    if protocol == cp.CUPS:
        found = cp.match_segments(counts.T, pred.classes.astype(np.int64), gt.classes.astype(np.int64))
        matched_gt, matched_pred = found.gt, found.pred
        ignored_gt, ignored_pred = found.predicted_void, found.on_gt_void
        usable_gt = np.ones(gt.count + 1, bool)
    else:
        matched_gt, matched_pred = pan.matched_segments(gt, pred, protocol)
        usable_gt = ~gt.crowd
        if protocol == pan.OFFICIAL:
            ignored_gt = gt.crowd.copy()
            ignored_pred = ~_counted_as_false(counts, gt, pred)
    gt_area, pred_area = counts.sum(axis=1), counts.sum(axis=0)
    same_class = gt.classes[:, None] == pred.classes[None, :]
    same_class[0, :] = same_class[:, 0] = False
    pred_in_gt = same_class & (counts > 0.5 * pred_area[None, :]) & usable_gt[:, None]  # pred mostly inside gt
    gt_in_pred = same_class & (counts > 0.5 * gt_area[:, None]) & usable_gt[:, None]  # gt mostly inside pred
    parts_of_gt = pred_in_gt.sum(axis=1)  # predictions lying mostly inside each GT segment
    parts_of_pred = gt_in_pred.sum(axis=0)  # GT segments lying mostly inside each prediction

    gt_status = np.full(gt.count + 1, FN, np.int8)
    gt_matched = np.zeros(gt.count + 1, bool)
    gt_matched[matched_gt] = True
    merged_into = (gt_in_pred & (parts_of_pred >= 2)[None, :]).any(axis=1)
    gt_status[merged_into] = MERGE
    gt_status[parts_of_gt >= 2] = SPLIT
    gt_status[gt_matched] = TP
    gt_status[ignored_gt & ~gt_matched] = IGNORED
    gt_status[0] = VOID

    pred_status = np.full(pred.count + 1, FP, np.int8)
    pred_matched = np.zeros(pred.count + 1, bool)
    pred_matched[matched_pred] = True
    pred_status[parts_of_pred >= 2] = MERGE
    pred_status[(pred_in_gt & (parts_of_gt >= 2)[:, None]).any(axis=0)] = SPLIT
    pred_status[ignored_pred] = IGNORED
    pred_status[pred_matched] = TP
    pred_status[0] = VOID
    return SegmentErrors(gt_status, pred_status)


def _counted_as_false(counts: np.ndarray, gt: pan.Segments, pred: pan.Segments) -> np.ndarray:
    """(n_pred+1,) bool: official protocol, an unmatched prediction counts as FP (not > 50 % void or same-class crowd)."""
    crowd_of_class = np.zeros(256, np.int64)  # one crowd segment per class in Cityscapes GT
    crowd_ids = np.flatnonzero(gt.crowd)
    crowd_of_class[gt.classes[crowd_ids]] = crowd_ids
    crowd_id = crowd_of_class[pred.classes]
    ignored = counts[0] + np.where(crowd_id > 0, counts[crowd_id, np.arange(pred.count + 1)], 0)
    area = np.maximum(counts.sum(axis=0), 1)
    return ~(ignored / area > 0.5)


# --------------------------------------------------------------------------- the protocol's segments of one image


def prediction(semantic: np.ndarray, instances: Instances, protocol: str) -> pan.Segments:
    """The protocol's panoptic prediction at the semantic map's size (trainIds, HxW uint8).

    Reference: stuff classes with >= 64 px, instances kept with >= 10 new px;
    official: every stuff class and every instance with a new pixel (as the
    sweep and the panoptic export build them).
    """
    return pan.protocol_prediction(semantic, instances, protocol)


def ground_truth(gt_train_ids: np.ndarray, gt_instance_ids: np.ndarray, protocol: str,
                 eval_size: tuple[int, int]) -> pan.Segments:
    """GT segments of a protocol: reference at ``eval_size`` (nearest), official at the GT's own resolution."""
    return pan.protocol_ground_truth(gt_train_ids, gt_instance_ids, protocol, eval_size)


def cups_prediction(clusters: np.ndarray, instances: Instances, classes: np.ndarray, num_pseudo: int) -> pan.Segments:
    """The CUPS protocol's prediction: the labels the CUPS export writes, named by a CUPS assignment.

    ``classes`` is the (256,) class (0..26, 255 void) of each raw pseudo-class
    (an ``assignment_pq`` of ``evaluate-cups`` or of a sweep's cups row); a
    thing-class segment is (class, instance), a stuff class one segment.
    """
    semantic, instance_map = one_class_per_instance(clusters, instances, num_pseudo, pan.THING_MIN_AREA)
    category = classes[semantic].astype(np.int64)
    instance = np.where(cp.IS_THING_CLASS[category], instance_map, 0).astype(np.int64)
    key = np.where(category == cp.VOID, -1, category * (int(instance.max()) + 1) + instance)
    values, ids = np.unique(key, return_inverse=True)
    ids = ids.reshape(key.shape).astype(np.int32)
    if values[0] != -1:  # no void pixel: ids start at 1
        ids += 1
        values = np.concatenate([[-1], values])
    segment_classes = [int(v) // (int(instance.max()) + 1) for v in values[1:]]
    return pan.Segments(ids, np.array([cs.IGNORE_ID, *segment_classes], np.uint8),
                        np.zeros(len(values), bool), cs.CAUSE27_CLASSES)


def cups_ground_truth(instance_ids: np.ndarray, size: tuple[int, int], source: str) -> pan.Segments:
    """CUPS' GT segments at ``size`` (27 classes, resized as CUPS does), void as id 0, crowd regions flagged for display."""
    index, classes, instances = cp.resized_ground_truth(instance_ids, size, source)
    kept = np.flatnonzero(classes != cp.VOID)
    id_of_segment = np.zeros(len(classes), np.int32)
    id_of_segment[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    crowd = cp.IS_THING_CLASS[classes[kept]] & (instances[kept] == 0)
    return pan.Segments(id_of_segment[index], np.array([cs.IGNORE_ID, *classes[kept]], np.uint8),
                        np.array([False, *crowd], bool), cs.CAUSE27_CLASSES)


def class_agnostic(segments: pan.Segments) -> pan.Segments:
    """The same segments with every thing class replaced by :data:`AGNOSTIC_THING` (stuff unchanged)."""
    classes = np.where(cs.IS_THING[segments.classes], AGNOSTIC_THING, segments.classes).astype(np.uint8)
    return pan.Segments(segments.ids, classes, segments.crowd)


def label_free_prediction(shape: tuple[int, int], instances: Instances, protocol: str) -> pan.Segments:
    """Label-free labels as a prediction: their instances, all of :data:`AGNOSTIC_THING`, and no stuff segment."""
    agnostic = instances.with_classes(np.full(len(instances), AGNOSTIC_THING, np.uint8))
    return prediction(np.full(shape, cs.IGNORE_ID, np.uint8), agnostic, protocol)


# --------------------------------------------------------------------------- per-image numbers


def image_scores(gt: pan.Segments, pred: pan.Segments, protocol: str) -> dict[str, float]:
    """PQ, PQ_stuff and PQ_things (percent) of one image; NaN for a group with no evaluated class.

    The protocol's own summary over this image's counts alone, so an image
    without any thing (GT or predicted) has PQ_things NaN rather than 0.
    """
    if protocol == cp.CUPS:
        counts = pan.pair_counts(gt, pred.resized(gt.ids.shape)).T
        numbers = summary(cp.segment_stats(counts, pred.classes.astype(np.int64), gt.classes.astype(np.int64)))
        return {key: math.nan if numbers[name] is None else numbers[name]
                for key, name in (("PQ", "pq"), ("PQ_stuff", "pq_stuff"), ("PQ_things", "pq_things"))}
    stats = pan.match(gt, pred.resized(gt.ids.shape), protocol)
    numbers = pan.summary(stats, protocol)
    present = (stats.tp + stats.fp + stats.fn) > 0
    things = cs.IS_THING[: cs.NUM_CLASSES]
    return {
        "PQ": numbers["PQ"] if present.any() else float("nan"),
        "PQ_stuff": numbers["PQ_stuff"] if (present & ~things).any() else float("nan"),
        "PQ_things": numbers["PQ_things"] if (present & things).any() else float("nan"),
    }


def worst_first(scores: dict[str, float]) -> list[str]:
    """Keys by ascending score (worst first); NaN (nothing to score) last; ties keep the given order."""
    keys = list(scores)
    return sorted(keys, key=lambda k: (np.isnan(scores[k]), 0.0 if np.isnan(scores[k]) else scores[k]))
