"""Panoptic quality under the two protocols, from per-image pixel-pair counts.

A segmentation is a :class:`Segments`: an HxW map of compact segment ids
(0 = void) with a class (and, for ground truth, a crowd flag) per id. The pair
counts of a GT and a predicted segmentation are one ``np.bincount`` over
``gt_id * (n_pred + 1) + pred_id``; every IoU, area and void overlap is read
from that matrix. No mask is built per segment.

* **reference** protocol (behind the published numbers, DESIGN.md section 4):
  stuff segments are whole classes with >= 64 px, thing instances are painted in
  order onto free pixels and kept with >= 10 new px; GT things need >= 10 px;
  IoU is over all pixels; a GT segment and a prediction of its class match when
  IoU > 0.5. PQ averages the classes with TP+FP+FN > 0; SQ and RQ are pooled
  over classes.
* **official** protocol (``cityscapesscripts.evaluation.evalPanopticSemanticLabeling``):
  GT segments are the instanceIds PNG's values as ``createPanopticImgs`` makes
  them (crowd regions flagged, ignored classes void), void pixels leave the
  union, crowd GT is never matched, an unmatched prediction lying > 50 % in
  void or same-class crowd is not a false positive, and PQ/SQ/RQ are class means.

With segments that do not overlap, IoU > 0.5 pairs are unique, so "each GT
takes the unmatched prediction of best IoU" equals "every same-class pair with
IoU > 0.5 is a true positive".

Counts add across images and processes (:class:`PanopticStats`); summaries are
plain dicts in percent, unrounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances.painting import paint_instances
from pseudo_labels.instances.splitting import Instances

STUFF_MIN_AREA = 64
"""Reference protocol: a stuff class forms a segment (GT or predicted) from this many pixels."""
THING_MIN_AREA = 10
"""Reference protocol: GT instances and newly painted predicted instances need this many pixels."""

REFERENCE, OFFICIAL = "reference", "official"
PROTOCOLS = (REFERENCE, OFFICIAL)


def area_rule(protocol: str) -> tuple[int, int]:
    """(smallest stuff segment, smallest newly painted instance) of a protocol's prediction, in pixels.

    Reference: (64, 10), the published protocol's filters; official: (1, 1),
    every stuff class and every instance that adds a pixel (cityscapesscripts
    has no area filter).
    """
    if protocol == REFERENCE:
        return STUFF_MIN_AREA, THING_MIN_AREA
    if protocol == OFFICIAL:
        return 1, 1
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


@dataclass(frozen=True)
class Segments:
    """A panoptic segmentation with compact ids.

    ``ids``: HxW int32, 0 = void, 1..n segments. ``classes``: (n+1,) uint8 trainId
    per id (``classes[0]`` = 255). ``crowd``: (n+1,) bool, GT crowd regions.
    """

    ids: np.ndarray
    classes: np.ndarray
    crowd: np.ndarray
    space: cs.ClassSpace = cs.TRAIN_ID_CLASSES
    """What the class ids mean: trainIds, or CUPS' 27 classes for the CUPS protocol."""

    @property
    def count(self) -> int:
        """Number of segments (excluding void)."""
        return len(self.classes) - 1

    @property
    def is_thing(self) -> np.ndarray:
        """(n+1,) bool: segments of a thing class (void is not)."""
        return self.space.is_thing(self.classes)

    def name(self, segment: int) -> str:
        """The class name of a segment ("void" for 0), with "crowd" before crowd regions."""
        if segment == 0:
            return "void"
        return ("crowd " if self.crowd[segment] else "") + self.space.names[int(self.classes[segment])]

    def resized(self, size: tuple[int, int]) -> Segments:
        """The same segments at another (H, W), Pillow NEAREST (how predictions meet full-resolution GT)."""
        if self.ids.shape == tuple(size):
            return self
        return replace(self, ids=cs.resize_nearest(self.ids, tuple(size)))


def segments_from_ids(ids: np.ndarray, classes: list[int], crowd: list[bool] | None = None,
                      space: cs.ClassSpace = cs.TRAIN_ID_CLASSES) -> Segments:
    """:class:`Segments` from an id map (1..n) and the class (and crowd flag) of each id."""
    return Segments(
        ids=ids,
        classes=np.array([cs.IGNORE_ID, *classes], np.uint8),
        crowd=np.array([False, *(crowd or [False] * len(classes))], bool),
        space=space,
    )


# --------------------------------------------------------------------------- predictions


def stuff_segment_ids(train_ids: np.ndarray, min_area: int, stuff_ids: Sequence[int] = cs.STUFF_TRAIN_IDS
                      ) -> tuple[np.ndarray, list[int]]:
    """HxW int32 ids 1..S for each stuff class with >= ``min_area`` px (ascending class), 0 elsewhere; and those classes.

    ``stuff_ids``: the stuff trainIds, or the stuff clusters of a label-free map."""
    counts = np.bincount(train_ids.ravel(), minlength=256)
    stuff = [c for c in stuff_ids if counts[c] >= max(min_area, 1)]
    id_of_class = np.zeros(256, np.int32)
    id_of_class[stuff] = np.arange(1, len(stuff) + 1, dtype=np.int32)
    return id_of_class[train_ids], stuff


def predicted_segments(semantic: np.ndarray, instances: Instances, min_stuff_area: int,
                       min_new_pixels: int, space: cs.ClassSpace = cs.TRAIN_ID_CLASSES) -> Segments:
    """Panoptic prediction: stuff classes (ascending, >= ``min_stuff_area`` px), then painted instances.

    Thing-class pixels that no painted instance holds are void. ``semantic`` is
    HxW uint8 trainIds (or, with a cluster ``space``, label-free cluster ids);
    ``instances`` come from :mod:`pseudo_labels.instances.splitting`.
    """
    stuff_ids = [c for c in range(len(space.names)) if c not in space.things]
    ids, stuff = stuff_segment_ids(semantic, min_stuff_area, stuff_ids)
    owner, painted = paint_instances(instances, min_new_pixels)
    painted_index = np.flatnonzero(painted)
    id_of_instance = np.zeros(len(instances) + 1, np.int32)  # owner -1 -> 0 (void)
    id_of_instance[painted_index] = np.arange(len(stuff) + 1, len(stuff) + 1 + len(painted_index), dtype=np.int32)
    held = owner >= 0
    np.put(ids, instances.pixels[held], id_of_instance[owner[held]])  # flat indices
    return segments_from_ids(ids, stuff + instances.classes[painted_index].tolist(), space=space)


# --------------------------------------------------------------------------- ground truth


def protocol_prediction(semantic: np.ndarray, instances: Instances, protocol: str) -> Segments:
    """The protocol's panoptic prediction at the semantic map's size (its :func:`area_rule`)."""
    return predicted_segments(semantic, instances, *area_rule(protocol))


def protocol_ground_truth(train_ids: np.ndarray, instance_ids: np.ndarray, protocol: str,
                          eval_size: tuple[int, int]) -> Segments:
    """GT segments of a protocol: reference at ``eval_size`` (Pillow nearest), official at the GT's own resolution."""
    if protocol == REFERENCE:
        return reference_gt_segments(cs.resize_nearest(train_ids, eval_size), cs.resize_nearest(instance_ids, eval_size))
    if protocol == OFFICIAL:
        return official_gt_segments(instance_ids)
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


def _distinct(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a non-negative integer map (ascending) and their pixel counts.

    ``np.unique(return_inverse=True)`` sorts every pixel; instanceIds fit in
    16 bits, so one ``bincount`` does the same job in a fraction of the time.
    """
    counts = np.bincount(values.ravel())
    present = np.flatnonzero(counts)
    return present, counts[present]


def reference_gt_segments(train_ids: np.ndarray, instance_ids: np.ndarray) -> Segments:
    """GT of the reference protocol, at the eval size (both inputs already resized nearest).

    Stuff: each stuff class with >= 64 px is one segment. Things: each
    instanceId >= 1000 of a thing class with >= 10 px, ascending id. Everything
    else (crowd, void, small segments) is void.
    """
    ids, stuff = stuff_segment_ids(train_ids, STUFF_MIN_AREA)
    values, sizes = _distinct(instance_ids)
    value_class = cs.LABEL_ID_TO_TRAIN_ID[np.minimum(values // cs.INSTANCE_OFFSET, 255)]
    is_instance = (values >= cs.INSTANCE_OFFSET) & cs.IS_THING[value_class] & (sizes >= THING_MIN_AREA)
    id_of_value = np.zeros(int(values[-1]) + 1, np.int32)
    id_of_value[values[is_instance]] = np.arange(len(stuff) + 1, len(stuff) + 1 + is_instance.sum(), dtype=np.int32)
    pixel_ids = id_of_value[instance_ids]
    ids = np.where(pixel_ids > 0, pixel_ids, ids)
    return segments_from_ids(ids, stuff + value_class[is_instance].tolist())


def official_gt_segments(instance_ids: np.ndarray) -> Segments:
    """GT of the official protocol from a full-resolution instanceIds map, as ``createPanopticImgs``.

    Every value is a segment: ``v < 1000`` is the labelId itself (a crowd region
    when the class has instances), ``v >= 1000`` is instance ``v`` of labelId
    ``v // 1000``. Values of classes ignored in evaluation are void.
    """
    values, _ = _distinct(instance_ids)
    label_ids = np.where(values < cs.INSTANCE_OFFSET, values, values // cs.INSTANCE_OFFSET)
    value_class = cs.LABEL_ID_TO_TRAIN_ID[np.minimum(label_ids, 255)]
    evaluated = value_class != cs.IGNORE_ID
    crowd = (values < cs.INSTANCE_OFFSET) & cs.IS_THING[value_class]
    id_of_value = np.zeros(int(values[-1]) + 1, np.int32)
    id_of_value[values[evaluated]] = np.arange(1, evaluated.sum() + 1, dtype=np.int32)
    ids = id_of_value[instance_ids]
    return segments_from_ids(ids, value_class[evaluated].tolist(), crowd[evaluated].tolist())


# --------------------------------------------------------------------------- statistics


@dataclass
class PanopticStats:
    """Per-class TP, FP, FN counts and summed TP IoU; adds across images and processes."""

    tp: np.ndarray = field(default_factory=lambda: np.zeros(cs.NUM_CLASSES, np.int64))
    fp: np.ndarray = field(default_factory=lambda: np.zeros(cs.NUM_CLASSES, np.int64))
    fn: np.ndarray = field(default_factory=lambda: np.zeros(cs.NUM_CLASSES, np.int64))
    iou: np.ndarray = field(default_factory=lambda: np.zeros(cs.NUM_CLASSES, np.float64))

    def __iadd__(self, other: PanopticStats) -> PanopticStats:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.iou += other.iou
        return self

    def __add__(self, other: PanopticStats) -> PanopticStats:
        total = PanopticStats()
        total += self
        total += other
        return total

    def counts_equal(self, other: PanopticStats) -> bool:
        """Same TP, FP and FN for every class (IoU sums may differ by summation order)."""
        return all(np.array_equal(x, y) for x, y in ((self.tp, other.tp), (self.fp, other.fp), (self.fn, other.fn)))

    def to_dict(self) -> dict[str, list]:
        return {"tp": self.tp.tolist(), "fp": self.fp.tolist(), "fn": self.fn.tolist(), "iou": self.iou.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, list]) -> PanopticStats:
        return cls(np.array(data["tp"], np.int64), np.array(data["fp"], np.int64),
                   np.array(data["fn"], np.int64), np.array(data["iou"], np.float64))


def pair_counts(gt: Segments, pred: Segments) -> np.ndarray:
    """(n_gt+1, n_pred+1) int64 pixel counts of every (GT id, predicted id) pair, void row/column 0."""
    if gt.ids.shape != pred.ids.shape:
        raise ValueError(f"GT {gt.ids.shape} and prediction {pred.ids.shape} differ in size")
    size = pred.count + 1
    key = gt.ids.astype(np.int64).ravel() * size + pred.ids.ravel()
    return np.bincount(key, minlength=(gt.count + 1) * size).reshape(gt.count + 1, size)


def _per_class(classes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(classes, weights=weights, minlength=cs.NUM_CLASSES)[: cs.NUM_CLASSES]


def match(gt: Segments, pred: Segments, protocol: str) -> PanopticStats:
    """TP/FP/FN/IoU of one image under ``protocol`` (``"reference"`` or ``"official"``)."""
    return match_counts(pair_counts(gt, pred), gt.classes, gt.crowd, pred.classes, protocol)


def _true_positives(counts: np.ndarray, gt_classes: np.ndarray, gt_crowd: np.ndarray, pred_classes: np.ndarray,
                    protocol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(GT ids, predicted ids, IoUs) of the matched pairs, GT ids ascending."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    gt_area, pred_area = counts.sum(axis=1), counts.sum(axis=0)
    g, p = np.nonzero(counts[1:, 1:])
    g, p = g + 1, p + 1  # row-major: GT ids ascending, as the reference visits them
    inter = counts[g, p]
    union = gt_area[g] + pred_area[p] - inter
    candidate = gt_classes[g] == pred_classes[p]
    if protocol == OFFICIAL:
        union = union - counts[0, p]  # void pixels leave the union
        candidate &= ~gt_crowd[g]
    iou = inter / union
    hit = candidate & (iou > 0.5)
    return g[hit], p[hit], iou[hit]


def matched_segments(gt: Segments, pred: Segments, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the GT segments and of the predictions that form true positives (for pictures and analysis)."""
    g, p, _ = _true_positives(pair_counts(gt, pred), gt.classes, gt.crowd, pred.classes, protocol)
    return g, p


def match_counts(counts: np.ndarray, gt_classes: np.ndarray, gt_crowd: np.ndarray, pred_classes: np.ndarray,
                 protocol: str) -> PanopticStats:
    """:func:`match` from a pair-count matrix (row/column 0 = void) and the segments' classes."""
    official = protocol == OFFICIAL
    g_hit, p_hit, iou_hit = _true_positives(counts, gt_classes, gt_crowd, pred_classes, protocol)
    pred_area = counts.sum(axis=0)
    stats = PanopticStats()
    stats.tp = _per_class(gt_classes[g_hit]).astype(np.int64)
    stats.iou = _per_class(gt_classes[g_hit], iou_hit)
    gt_ids = np.arange(1, len(gt_classes))
    pred_ids = np.arange(1, len(pred_classes))
    gt_matched = np.zeros(len(gt_classes), bool)
    gt_matched[g_hit] = True
    pred_matched = np.zeros(len(pred_classes), bool)
    pred_matched[p_hit] = True
    unmatched_gt = gt_ids[~gt_matched[1:] & ~gt_crowd[1:]]
    stats.fn = _per_class(gt_classes[unmatched_gt]).astype(np.int64)
    unmatched_pred = pred_ids[~pred_matched[1:]]
    if official:
        ignored = counts[0, unmatched_pred].astype(np.int64)
        crowd_of_class = np.zeros(256, np.int64)  # one crowd segment per class in Cityscapes GT
        crowd_ids = gt_ids[gt_crowd[1:]]
        crowd_of_class[gt_classes[crowd_ids]] = crowd_ids
        crowd_id = crowd_of_class[pred_classes[unmatched_pred]]
        ignored += np.where(crowd_id > 0, counts[crowd_id, unmatched_pred], 0)
        unmatched_pred = unmatched_pred[~(ignored / pred_area[unmatched_pred] > 0.5)]
    stats.fp = _per_class(pred_classes[unmatched_pred]).astype(np.int64)
    return stats


# --------------------------------------------------------------------------- summaries


def _percent(x: float) -> float:
    return float(x) * 100.0


def class_scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, iou: np.ndarray,
                 protocol: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (PQ, SQ, RQ, present) as fractions, from float64 TP/FP/FN counts and IoU sums of any shape (..., C).

    The one home of each protocol's per-class formula (the summaries and the
    bootstrap over resampled totals use it). A class is present when TP + FP +
    FN > 0; absent classes score 0. Reference: SQ = IoU / (TP + 1e-8), RQ =
    TP / (TP + FP/2 + FN/2), PQ = SQ * RQ (the original's code). Official:
    PQ = IoU / (TP + FP/2 + FN/2), SQ = IoU / TP (0 without TP), RQ = TP / (TP
    + FP/2 + FN/2), as cityscapesscripts.
    """
    present = (tp + fp + fn) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if protocol == REFERENCE:
            sq = np.where(present, iou / (tp + 1e-8), 0.0)
            rq = np.where(present, tp / (tp + 0.5 * fp + 0.5 * fn), 0.0)
            return sq * rq, sq, rq, present
        if protocol == OFFICIAL:
            denominator = tp + 0.5 * fp + 0.5 * fn
            pq = np.where(present, iou / denominator, 0.0)
            sq = np.where(present & (tp > 0), iou / tp, 0.0)
            rq = np.where(present, tp / denominator, 0.0)
            return pq, sq, rq, present
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


def reference_summary(stats: PanopticStats) -> dict:
    """Reference protocol numbers in percent: PQ, PQ_stuff, PQ_things (class means), pooled SQ and RQ."""
    tp, fp, fn, iou = stats.tp.astype(np.float64), stats.fp.astype(np.float64), stats.fn.astype(np.float64), stats.iou
    pq, sq, rq, present = class_scores(tp, fp, fn, iou, REFERENCE)
    stuff = np.isin(np.arange(cs.NUM_CLASSES), cs.STUFF_TRAIN_IDS)

    def mean(selection: np.ndarray) -> float:
        chosen = pq[present & selection]
        return _percent(np.mean(chosen)) if len(chosen) else 0.0

    return {
        "PQ": mean(np.ones(cs.NUM_CLASSES, bool)),
        "PQ_stuff": mean(stuff),
        "PQ_things": mean(~stuff),
        "SQ": _percent(iou.sum() / (tp.sum() + 1e-8)),
        "RQ": _percent(tp.sum() / (tp.sum() + 0.5 * fp.sum() + 0.5 * fn.sum() + 1e-8)),
        "n_classes": int(present.sum()),
        "per_class": _per_class_dict(stats, pq, sq, rq, present),
    }


def official_summary(stats: PanopticStats) -> dict:
    """Official numbers in percent: PQ/SQ/RQ as class means over All, Stuff and Things (cityscapesscripts)."""
    tp, fp, fn, iou = stats.tp.astype(np.float64), stats.fp.astype(np.float64), stats.fn.astype(np.float64), stats.iou
    pq, sq, rq, present = class_scores(tp, fp, fn, iou, OFFICIAL)
    stuff = np.isin(np.arange(cs.NUM_CLASSES), cs.STUFF_TRAIN_IDS)
    result: dict = {}
    for suffix, selection in (("", np.ones(cs.NUM_CLASSES, bool)), ("_stuff", stuff), ("_things", ~stuff)):
        chosen = present & selection
        n = int(chosen.sum())
        for name, values in (("PQ", pq), ("SQ", sq), ("RQ", rq)):
            result[name + suffix] = _percent(values[chosen].sum() / n) if n else 0.0
        result["n_classes" + suffix] = n
    result["per_class"] = _per_class_dict(stats, pq, sq, rq, present)
    return result


def summary(stats: PanopticStats, protocol: str) -> dict:
    """:func:`reference_summary` or :func:`official_summary`."""
    if protocol == REFERENCE:
        return reference_summary(stats)
    if protocol == OFFICIAL:
        return official_summary(stats)
    raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")


def _per_class_dict(stats: PanopticStats, pq: np.ndarray, sq: np.ndarray, rq: np.ndarray,
                    present: np.ndarray) -> dict[str, dict]:
    return {
        name: {
            "PQ": _percent(pq[c]), "SQ": _percent(sq[c]), "RQ": _percent(rq[c]),
            "TP": int(stats.tp[c]), "FP": int(stats.fp[c]), "FN": int(stats.fn[c]),
            "iou_sum": float(stats.iou[c]), "evaluated": bool(present[c]),
            "thing": bool(cs.IS_THING[c]),
        }
        for c, name in enumerate(cs.CLASS_NAMES)
    }
