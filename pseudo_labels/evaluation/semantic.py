"""Semantic scores of trainId maps against ground truth: the 19x19 confusion matrix, mIoU, pixel accuracy."""

from __future__ import annotations

import numpy as np

from pseudo_labels.data import cityscapes as cs


def confusion(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(19, 19) pixel counts [gt, pred] over pixels where both are trainIds."""
    valid = (gt < cs.NUM_CLASSES) & (pred < cs.NUM_CLASSES)
    key = gt[valid].astype(np.int64) * cs.NUM_CLASSES + pred[valid]
    return np.bincount(key, minlength=cs.NUM_CLASSES ** 2).reshape(cs.NUM_CLASSES, cs.NUM_CLASSES)


def semantic_scores(matrix: np.ndarray) -> dict:
    """mIoU over classes present in GT or prediction, pixel accuracy, per-class IoU (percent)."""
    tp = np.diag(matrix).astype(np.float64)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - tp
    present = union > 0
    iou = np.where(present, tp / np.maximum(union, 1), 0.0)
    return {"mIoU": float(iou[present].mean() * 100) if present.any() else 0.0,
            "pixel_accuracy": float(tp.sum() / max(matrix.sum(), 1) * 100),
            "per_class_IoU": {name: float(iou[c] * 100) for c, name in enumerate(cs.CLASS_NAMES) if present[c]}}
