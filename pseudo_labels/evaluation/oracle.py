"""Straightforward per-mask reference-protocol evaluation: the oracle for tests and benchmarks.

This follows the published sweep's steps literally (a boolean mask per
segment, a loop per GT segment over the unmatched predictions of its class)
and is far slower than :mod:`pseudo_labels.evaluation.panoptic`. Nothing in the pipeline
calls it; tests and ``benchmarks/bench_sweep.py`` check the fast path against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.panoptic import STUFF_MIN_AREA, THING_MIN_AREA, PanopticStats


def _stuff_segments(train_ids: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Segment map holding each stuff class with >= 64 px as one segment (ids 1, 2, ...), and id -> class."""
    segment_map = np.zeros(train_ids.shape, np.int32)
    segment_class: dict[int, int] = {}
    for cls in cs.STUFF_TRAIN_IDS:
        mask = train_ids == cls
        if mask.sum() >= STUFF_MIN_AREA:
            segment_class[len(segment_class) + 1] = cls
            segment_map[mask] = len(segment_class)
    return segment_map, segment_class


def evaluate_image(pred_semantic: np.ndarray, pred_instances: Sequence[tuple[np.ndarray, int, int]],
                   gt_train_ids: np.ndarray, gt_instance_ids: np.ndarray) -> PanopticStats:
    """Reference-protocol TP/FP/FN/IoU of one image; all inputs at the eval size.

    ``pred_instances``: ``[(mask, trainId, area), ...]`` in painting order, as
    :func:`pseudo_labels.instances.reference.split_instances_reference` returns them.
    """
    pred_map, pred_class = _stuff_segments(pred_semantic)
    next_id = len(pred_class) + 1
    for mask, cls, _ in pred_instances:
        new = mask & (pred_map == 0)
        if new.sum() >= THING_MIN_AREA:
            pred_map[new] = next_id
            pred_class[next_id] = cls
            next_id += 1

    gt_map, gt_class = _stuff_segments(gt_train_ids)
    next_id = len(gt_class) + 1
    for value in np.unique(gt_instance_ids):
        if value < cs.INSTANCE_OFFSET:
            continue
        cls = int(cs.LABEL_ID_TO_TRAIN_ID[min(value // cs.INSTANCE_OFFSET, 255)])
        mask = gt_instance_ids == value
        if cls == cs.IGNORE_ID or not cs.IS_THING[cls] or mask.sum() < THING_MIN_AREA:
            continue
        gt_map[mask] = next_id
        gt_class[next_id] = cls
        next_id += 1

    stats = PanopticStats()
    matched: set[int] = set()
    for cls in range(cs.NUM_CLASSES):
        gts = [i for i, c in gt_class.items() if c == cls]
        preds = [i for i, c in pred_class.items() if c == cls]
        for gt_id in gts:
            gt_mask = gt_map == gt_id
            best_iou, best = 0.0, None
            for pred_id in preds:
                if pred_id in matched:
                    continue
                pred_mask = pred_map == pred_id
                iou = (gt_mask & pred_mask).sum() / (gt_mask | pred_mask).sum()
                if iou > best_iou:
                    best_iou, best = iou, pred_id
            if best is not None and best_iou > 0.5:
                stats.tp[cls] += 1
                stats.iou[cls] += best_iou
                matched.add(best)
            else:
                stats.fn[cls] += 1
        stats.fp[cls] += sum(1 for pred_id in preds if pred_id not in matched)
    return stats
