"""Class-agnostic instance recall and AP of predicted masks against Cityscapes thing instances.

These are the original cascade evaluator's instance metrics, so that numbers
compare with its reports. Per image:

* GT instances: the ids >= 1000 of a thing class in gtFine instanceIds,
  resized (Pillow NEAREST) to the eval size, of at least ``GT_MIN_AREA`` px
  there (crowd regions have ids < 1000 and are not instances);
* predictions: every mask of the image, whatever its class, ranked by score
  (descending, ties in file order);
* recall (the original's "AR@100"; there is no 100-mask cut): the share of GT
  instances that some prediction overlaps with IoU >= 0.5;
* AP@t: in rank order each prediction takes the unmatched GT instance of
  highest IoU when that IoU is >= t (a true positive), else it is a false
  positive; AP is the all-point interpolated area under precision/recall
  (VOC), i.e. the mean over GT instances of the best precision at or after
  the rank that found them (0 for those never found).

Images without GT instances are left out; an image with GT but no prediction
scores 0. The results are the means over images, in percent. IoU thresholds
are compared exactly on pixel counts. This is not the official Cityscapes
instance AP (class-aware, IoU 0.50:0.95, averaged per class).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from pseudo_labels.data import cityscapes as cs

GT_MIN_AREA = 10
RECALL_IOU = Fraction(1, 2)
AP_IOUS = {"ap_50": Fraction(1, 2), "ap_75": Fraction(3, 4)}


def gt_thing_instances(instance_ids: np.ndarray, things: tuple[int, ...] = cs.THING_TRAIN_IDS,
                       min_area: int = GT_MIN_AREA) -> tuple[np.ndarray, int]:
    """(HxW int32 labels 0..G, G): the thing instances of an instanceIds map (already at the eval size)."""
    ids, inverse, areas = np.unique(instance_ids, return_inverse=True, return_counts=True)
    label_ids = np.where(ids >= cs.INSTANCE_OFFSET, ids // cs.INSTANCE_OFFSET, 0)
    train_ids = cs.LABEL_ID_TO_TRAIN_ID[np.clip(label_ids, 0, len(cs.LABEL_ID_TO_TRAIN_ID) - 1)]
    keep = (ids >= cs.INSTANCE_OFFSET) & np.isin(train_ids, things) & (areas >= min_area)
    numbers = np.zeros(len(ids), np.int32)
    numbers[keep] = np.arange(1, int(keep.sum()) + 1)
    return numbers[inverse.reshape(instance_ids.shape)], int(keep.sum())


def overlaps(masks: np.ndarray, gt_labels: np.ndarray, gt_count: int) -> tuple[np.ndarray, np.ndarray]:
    """(intersections (N, G), unions (N, G)) in pixels between N boolean masks and the G labelled GT instances."""
    gt_areas = np.bincount(gt_labels.ravel(), minlength=gt_count + 1)[1:]
    inter = np.stack([np.bincount(gt_labels[m], minlength=gt_count + 1)[1:] for m in masks]) if len(masks) else \
        np.zeros((0, gt_count), np.int64)
    mask_areas = masks.sum(axis=(1, 2)) if len(masks) else np.zeros(0, np.int64)
    return inter, mask_areas[:, None] + gt_areas[None, :] - inter


def at_least(inter: np.ndarray, union: np.ndarray, threshold: Fraction) -> np.ndarray:
    """IoU >= threshold, exactly (on integer pixel counts)."""
    return inter * threshold.denominator >= threshold.numerator * union


def true_positives(inter: np.ndarray, union: np.ndarray, order: np.ndarray, threshold: Fraction) -> np.ndarray:
    """(N,) bool in rank ``order``: whether each prediction takes a GT instance (greedy, highest IoU first)."""
    iou = inter / np.maximum(union, 1)
    hits = at_least(inter, union, threshold)
    free = np.ones(inter.shape[1], bool)
    found = np.zeros(len(order), bool)
    for rank, index in enumerate(order):
        if not free.any():
            break
        best = int(np.argmax(np.where(free, iou[index], -1.0)))
        if hits[index, best]:
            found[rank] = True
            free[best] = False
    return found


def average_precision(found: np.ndarray, gt_count: int) -> float:
    """VOC all-point AP of ranked true-positive flags against ``gt_count`` instances."""
    if gt_count == 0 or not found.any():
        return 0.0
    precision = np.cumsum(found) / np.arange(1, len(found) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision at this rank or later
    return float(envelope[found].sum() / gt_count)


def image_scores(masks: np.ndarray, scores: np.ndarray, gt_labels: np.ndarray, gt_count: int) -> dict[str, float]:
    """Recall and AP@t (fractions) of one image's masks; requires ``gt_count`` >= 1."""
    inter, union = overlaps(masks, gt_labels, gt_count)
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    result = {"ar_100": float(at_least(inter, union, RECALL_IOU).any(axis=0).mean()) if len(masks) else 0.0}
    for name, threshold in AP_IOUS.items():
        result[name] = average_precision(true_positives(inter, union, order, threshold), gt_count)
    return result


@dataclass
class InstanceTotals:
    """Per-image instance scores summed over a split."""

    sums: dict[str, float] = field(default_factory=lambda: {"ar_100": 0.0, **{name: 0.0 for name in AP_IOUS}})
    scored_images: int = 0
    predicted: int = 0
    ground_truth: int = 0
    images: int = 0

    def add(self, masks: np.ndarray, scores: np.ndarray, gt_labels: np.ndarray, gt_count: int) -> None:
        """Score one image (left out of the means when it has no GT instance)."""
        self.images += 1
        self.predicted += len(masks)
        self.ground_truth += gt_count
        if gt_count == 0:
            return
        self.scored_images += 1
        for name, value in image_scores(masks, scores, gt_labels, gt_count).items():
            self.sums[name] += value

    def summary(self) -> dict[str, float | int]:
        """Means over the images with GT instances (percent), and mask counts per image."""
        scored = max(self.scored_images, 1)
        return {**{name: 100.0 * value / scored for name, value in self.sums.items()},
                "avg_pred_instances": self.predicted / max(self.images, 1),
                "avg_gt_instances": self.ground_truth / max(self.images, 1),
                "num_images": self.scored_images}
