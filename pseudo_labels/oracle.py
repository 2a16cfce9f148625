"""Straightforward per-mask reference-protocol evaluation: the oracle for tests and benchmarks.

This follows the published sweep's steps literally (a boolean mask per
segment, a loop per GT segment over the unmatched predictions of its class)
and is far slower than :mod:`pseudo_labels.panoptic`. Nothing in the pipeline
calls it; tests and ``benchmarks/bench_sweep.py`` check the fast path against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pseudo_labels import cityscapes as cs
from pseudo_labels.panoptic import STUFF_MIN_AREA, THING_MIN_AREA, PanopticStats


def evaluate_image(pred_semantic: np.ndarray, pred_instances: Sequence[tuple[np.ndarray, int, int]],
                   gt_train_ids: np.ndarray, gt_instance_ids: np.ndarray) -> PanopticStats:
    """Reference-protocol TP/FP/FN/IoU of one image; all inputs at the eval size.

    ``pred_instances``: ``[(mask, trainId, area), ...]`` in painting order, as
    :func:`pseudo_labels.instances.split_instances_reference` returns them.
    """
    height, width = pred_semantic.shape
    pred_map = np.zeros((height, width), np.int32)
    pred_class: dict[int, int] = {}
    next_id = 1
    for cls in cs.STUFF_TRAIN_IDS:
        mask = pred_semantic == cls
        if mask.sum() >= STUFF_MIN_AREA:
            pred_map[mask] = next_id
            pred_class[next_id] = cls
            next_id += 1
    for mask, cls, _ in pred_instances:
        new = mask & (pred_map == 0)
        if new.sum() >= THING_MIN_AREA:
            pred_map[new] = next_id
            pred_class[next_id] = cls
            next_id += 1

    gt_map = np.zeros((height, width), np.int32)
    gt_class: dict[int, int] = {}
    next_id = 1
    for cls in cs.STUFF_TRAIN_IDS:
        mask = gt_train_ids == cls
        if mask.sum() >= STUFF_MIN_AREA:
            gt_map[mask] = next_id
            gt_class[next_id] = cls
            next_id += 1
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
