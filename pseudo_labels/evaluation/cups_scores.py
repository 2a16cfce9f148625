"""The CUPS protocol's numbers over a dataset: from per-image tables to PQ, SQ, RQ, mIoU and accuracy as CUPS reports them.

:func:`score_tables` is the whole protocol once every image is a table
(:mod:`pseudo_labels.evaluation.cups_protocol`): CUPS' float32 cost matrix,
both assignments, the segment statistics under the PQ assignment, the
confusion under the mIoU assignment, and the classes absent from the GT that
the matching still scores. The evaluator and the sweep both call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pseudo_labels.evaluation.cups_protocol import (CLASS_NAMES, IS_THING_CLASS, NUM_CLASSES, CupsStats, ImageTable,
                                                    batched_float32_sum, class_lookup, image_stats, miou_assignment,
                                                    pq_assignment)


def _mean(values: np.ndarray) -> float | None:
    """Plain mean in percent; None (CUPS: NaN) when no class counts."""
    return float(np.mean(values.astype(np.float64))) * 100.0 if len(values) else None


def class_scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray,
                 iou: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (PQ, SQ, RQ, counted) as fractions from counts and IoU sums of any shape (..., 27).

    The one home of CUPS' per-class formula (:func:`summary` and the bootstrap
    over resampled totals use it); the counts may be integers or float64
    holding integers. den = TP + FP/2 + FN/2 in float32, as CUPS; a class
    counts when den > 0.
    """
    den = np.asarray(tp).astype(np.float32) + np.float32(0.5) * np.asarray(fp).astype(np.float32) \
        + np.float32(0.5) * np.asarray(fn).astype(np.float32)
    counted = den > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pq = np.where(counted, iou / den.astype(np.float64), 0.0)
        sq = np.where(np.asarray(tp) > 0, iou / tp, 0.0)
        rq = np.where(counted, np.asarray(tp).astype(np.float32) / den, np.float32(0.0)).astype(np.float32)
    return pq, sq, rq, counted


def summary(stats: CupsStats) -> dict:
    """PQ, SQ, RQ (all, things, stuff) in percent and per-class rows, with CUPS' float32 where it is float32.

    Per class: den = TP + FP/2 + FN/2 (float32), PQ = IoU sum / den and
    SQ = IoU sum / TP (float64), RQ = TP / den (float32). A class counts when
    den > 0; the means are plain means over counted classes.
    """
    pq, sq, rq, counted = class_scores(stats.tp, stats.fp, stats.fn, stats.iou)
    things = IS_THING_CLASS[:NUM_CLASSES]
    result: dict = {}
    for suffix, selection in (("", np.ones(NUM_CLASSES, bool)), ("_things", things), ("_stuff", ~things)):
        chosen = counted & selection
        for name, values in (("pq", pq), ("sq", sq), ("rq", rq)):
            result[name + suffix] = _mean(values[chosen])
    result["per_class"] = {
        name: {"pq": float(pq[c]) * 100.0, "sq": float(sq[c]) * 100.0, "rq": float(rq[c]) * 100.0,
               "tp": int(stats.tp[c]), "fp": int(stats.fp[c]), "fn": int(stats.fn[c]),
               "iou_sum": float(stats.iou[c]), "counted": bool(counted[c]), "thing": bool(things[c])}
        for c, name in enumerate(CLASS_NAMES)}
    return result


def miou_and_accuracy(confusion: np.ndarray) -> tuple[float, float]:
    """(mIoU, pixel accuracy) in percent from CUPS' float32 (predicted class x GT class) matrix.

    IoU per class in float32; the mean runs over the classes present in GT
    or prediction (not NaN).
    """
    confusion = confusion.astype(np.float32)
    tp = np.diag(confusion)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = tp / (tp + (confusion.sum(axis=0) - tp) + (confusion.sum(axis=1) - tp))
        accuracy = tp.sum() / confusion.sum()
    present = ~np.isnan(iou)
    miou = float(np.mean(iou[present], dtype=np.float32)) * 100.0 if present.any() else float("nan")
    return miou, float(accuracy) * 100.0


def mapped_confusion(cost: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """(27, 27) int64 (class given, GT class) pixels of one image's (K, 27) cost matrix under ``assignment``."""
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    np.add.at(confusion, assignment, cost)
    return confusion


# --------------------------------------------------------------------------- the whole protocol


def score_tables(tables: Sequence[ImageTable], things: Sequence[int], stuffs: Sequence[int]) -> dict:
    """The CUPS protocol over a dataset's tables (in CUPS' image order): numbers, assignments and their quirks.

    ``things`` and ``stuffs`` are the raw pseudo-classes in split order (they
    fix the label space). Returns the record the evaluator writes, in percent
    and unrounded: pq/sq/rq overall, of things and of stuff, miou, acc,
    per_class, both assignments per raw pseudo-class, the classes absent from
    the GT and the pseudo-classes the matching still forces onto them.
    """
    if not things:
        raise ValueError("no thing pseudo-class")
    num_pseudo = len(things) + len(stuffs)
    cost = batched_float32_sum(t.cost_matrix(num_pseudo) for t in tables)
    pq_classes = pq_assignment(cost, things, stuffs)
    miou_classes = miou_assignment(cost, things, stuffs)
    lookup = class_lookup(pq_classes)
    stats = CupsStats()
    for table in tables:
        stats += image_stats(table, lookup)
    confusion = batched_float32_sum(mapped_confusion(t.cost_matrix(num_pseudo), miou_classes) for t in tables)
    miou, accuracy = miou_and_accuracy(confusion)
    present = sum(t.gt_class_pixels() for t in tables) > 0
    absent = [c for c in range(NUM_CLASSES) if not present[c]]
    record = summary(stats)
    per_class = record.pop("per_class")
    return {
        **record, "miou": miou, "acc": accuracy, "per_class": per_class,
        "assignment_pq": pq_classes.tolist(), "assignment_miou": miou_classes.tolist(),
        "things": list(things), "stuffs": list(stuffs),
        "absent_classes": [CLASS_NAMES[c] for c in absent],
        "forced_onto_absent": {
            "pq": {CLASS_NAMES[c]: np.flatnonzero(pq_classes == c).tolist() for c in absent if (pq_classes == c).any()},
            "miou": {CLASS_NAMES[c]: np.flatnonzero(miou_classes == c).tolist() for c in absent
                     if (miou_classes == c).any()}},
    }
