"""A slow, literal transcription of CUPS' evaluation, pixel maps and all: the check of :mod:`pseudo_labels.evaluation.cups_protocol`.

It follows the order of CUPS' own code rather than our table algebra: map
every pixel's pseudo-class to a class, pre-process (category, instance)
pairs as torchmetrics 1.3.1 does, count segment areas and intersections in
dictionaries keyed by colour tuples, and loop over the intersections. The
tests and ``benchmarks/bench_cups_protocol.py`` compare the two; nothing else
should use it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_scores import miou_and_accuracy, summary


def _colors(category: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """torchmetrics' pre-processing: stuff loses its instance; a category that is neither thing nor stuff is void (255, 0)."""
    category = category.astype(np.int64).ravel()
    instance = instance.astype(np.int64).ravel()
    things = np.isin(category, cp.THING_CLASSES)
    stuffs = np.isin(category, cp.STUFF_CLASSES)
    instance = np.where(stuffs, 0, instance)
    category = np.where(things | stuffs, category, cp.VOID)
    instance = np.where(things | stuffs, instance, 0)
    return np.stack([category, instance], axis=1)


def _areas(rows: np.ndarray) -> Counter:
    values, counts = np.unique(rows, axis=0, return_counts=True)
    return Counter({tuple(int(x) for x in v): int(c) for v, c in zip(values, counts)})


def reference_image_stats(pred: tuple[np.ndarray, np.ndarray], gt: tuple[np.ndarray, np.ndarray]) -> cp.CupsStats:
    """One image's TP/FP/FN/IoU from (category, instance) maps of the mapped prediction and of the GT."""
    void = (cp.VOID, 0)
    p, g = _colors(*pred), _colors(*gt)
    pred_areas, gt_areas = _areas(p), _areas(g)
    both = _areas(np.concatenate([p, g], axis=1))
    intersections = Counter({(k[:2], k[2:]): v for k, v in both.items()})
    stats = cp.CupsStats()
    pred_matched, gt_matched = set(), set()
    for (pc, gc), inter in intersections.items():
        if gc == void or pc[0] != gc[0]:
            continue
        union = (pred_areas[pc] - intersections.get((pc, void), 0) + gt_areas[gc]
                 - intersections.get((void, gc), 0) - inter)
        iou = np.float32(inter) / np.float32(union)
        if iou > 0.5:
            pred_matched.add(pc)
            gt_matched.add(gc)
            stats.iou[gc[0]] += float(iou)
            stats.tp[gc[0]] += 1
    for gc in set(gt_areas) - gt_matched - {void}:
        if np.float32(intersections.get((void, gc), 0)) / np.float32(gt_areas[gc]) <= 0.5:
            stats.fn[gc[0]] += 1
    for pc in set(pred_areas) - pred_matched - {void}:
        if np.float32(intersections.get((pc, void), 0)) / np.float32(pred_areas[pc]) <= 0.5:
            stats.fp[pc[0]] += 1
    return stats


def reference_score(images: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], things: Sequence[int],
                    stuffs: Sequence[int]) -> dict:
    """The whole protocol from (pseudo-class map, instance map, GT class map, GT instance map) per image.

    The cost matrix is built in label space from every pixel, in batches of
    four added to a float32 matrix; the matching and the numbers come from
    :mod:`cups_protocol`'s matching core and summary (checked on their own in
    the tests), the segment statistics from :func:`reference_image_stats`.
    """
    num_pseudo = len(things) + len(stuffs)
    label = np.full(256, cp.VOID, np.int64)
    label[list(stuffs)] = np.arange(len(stuffs))
    label[list(things)] = len(stuffs) + np.arange(len(things))

    def cost_of(batch: Sequence, classes: np.ndarray | None = None) -> np.ndarray:
        """One batch's (rows, 27) counts of label-space ids (or their ``classes``) against GT classes."""
        rows = num_pseudo if classes is None else cp.NUM_CLASSES
        matrix = np.zeros((rows, cp.NUM_CLASSES), np.int64)
        for pseudo, _, gt_class, _ in batch:
            pred = label[pseudo] if classes is None else cp.class_lookup(classes)[label[pseudo]]
            valid = (pred < rows) & (gt_class < cp.NUM_CLASSES)
            np.add.at(matrix, (pred[valid], gt_class[valid].astype(np.int64)), 1)
        return matrix

    batches = [images[i:i + cp.BATCH_SIZE] for i in range(0, len(images), cp.BATCH_SIZE)]
    cost = np.zeros((num_pseudo, cp.NUM_CLASSES), np.float32)
    for batch in batches:
        cost += cost_of(batch).astype(np.float32)
    stuff_count = len(stuffs)
    pq_classes = np.empty(num_pseudo, np.int64)
    for start, stop, classes in ((stuff_count, num_pseudo, cp.THING_CLASSES), (0, stuff_count, cp.STUFF_CLASSES)):
        rows = list(set(tuple(range(start, stop))).copy())
        pq_classes[rows] = np.asarray(classes)[cp.match_rows(cost[rows][:, list(classes)])]
    miou_classes = cp.match_rows(cost)
    stats = cp.CupsStats()
    for pseudo, instance, gt_class, gt_instance in images:
        stats += reference_image_stats((cp.class_lookup(pq_classes)[label[pseudo]], instance), (gt_class, gt_instance))
    confusion = np.zeros((cp.NUM_CLASSES, cp.NUM_CLASSES), np.float32)
    for batch in batches:
        confusion += cost_of(batch, miou_classes).astype(np.float32)
    miou, accuracy = miou_and_accuracy(confusion)
    raw = np.array([*stuffs, *things])
    by_raw_pq, by_raw_miou = np.empty(num_pseudo, np.int64), np.empty(num_pseudo, np.int64)
    by_raw_pq[raw], by_raw_miou[raw] = pq_classes, miou_classes
    return {**summary(stats), "miou": miou, "acc": accuracy, "assignment_pq": by_raw_pq.tolist(),
            "assignment_miou": by_raw_miou.tolist()}
