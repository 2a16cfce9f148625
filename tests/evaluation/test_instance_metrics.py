"""Class-agnostic instance recall / AP: by hand, against a per-mask oracle of the original loop, and end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import instance_metrics as im
from pseudo_labels.cli import evaluate_cascade as cascade
from pseudo_labels.core.fileio import write_npz, write_png


def _oracle(masks: np.ndarray, scores: np.ndarray, gt_masks: np.ndarray) -> dict[str, float]:
    """The original evaluator's per-image loop, transcribed plainly: float32 IoU, greedy matching, VOC AP."""
    pred = masks.reshape(len(masks), -1).astype(np.float32)
    gt = gt_masks.reshape(len(gt_masks), -1).astype(np.float32)
    inter = pred @ gt.T
    iou = inter / (pred.sum(1, keepdims=True) + gt.sum(1, keepdims=True).T - inter + np.float32(1e-8))
    result = {"ar_100": float((iou.max(axis=0) >= 0.5).sum() / len(gt))}
    order = np.argsort(-scores, kind="stable")
    for name, threshold in (("ap_50", 0.5), ("ap_75", 0.75)):
        matched, tp = set(), np.zeros(len(masks))
        for rank, i in enumerate(order):
            row = iou[i].copy()
            for j in matched:
                row[j] = 0.0
            best = int(np.argmax(row))
            if row[best] >= threshold:
                tp[rank] = 1
                matched.add(best)
        cum_tp, cum_fp = np.cumsum(tp), np.cumsum(1 - tp)
        precision = cum_tp / (cum_tp + cum_fp + 1e-8)
        recall = cum_tp / (len(gt) + 1e-8)
        mrec, mpre = np.concatenate(([0.0], recall, [1.0])), np.concatenate(([1.0], precision, [0.0]))
        for k in range(len(mpre) - 1, 0, -1):
            mpre[k - 1] = max(mpre[k - 1], mpre[k])
        steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
        result[name] = float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))
    return result


def _random_scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A small label map of GT instances and overlapping predicted boxes, some near-copies of the GT."""
    shape = (24, 32)
    labels = np.zeros(shape, np.int32)
    count = int(rng.integers(1, 6))
    for n in range(1, count + 1):
        y, x = rng.integers(0, 18), rng.integers(0, 26)
        labels[y:y + rng.integers(3, 7), x:x + rng.integers(3, 7)] = n
    present = np.unique(labels[labels > 0])
    relabel = np.zeros(count + 1, np.int32)
    relabel[present] = np.arange(1, len(present) + 1)
    labels = relabel[labels]
    masks = []
    for _ in range(int(rng.integers(0, 8))):
        if present.size and rng.random() < 0.5:  # a GT instance, jittered
            mask = labels == rng.integers(1, len(present) + 1)
            mask = np.roll(mask, int(rng.integers(-1, 2)), axis=int(rng.integers(0, 2)))
        else:
            mask = np.zeros(shape, bool)
            y, x = rng.integers(0, 20), rng.integers(0, 28)
            mask[y:y + rng.integers(2, 8), x:x + rng.integers(2, 8)] = True
        masks.append(mask)
    masks = np.array(masks, bool).reshape(-1, *shape)
    scores = rng.integers(0, 4, len(masks)).astype(np.float32)  # ties on purpose
    return masks, scores, labels, len(present)


@pytest.mark.parametrize("seed", range(40))
def test_equals_the_original_loop(seed: int) -> None:
    masks, scores, labels, count = _random_scene(np.random.default_rng(seed))
    if count == 0:
        pytest.skip("no GT instance drawn")
    gt_masks = np.stack([labels == n for n in range(1, count + 1)])
    ours = im.image_scores(masks, scores, labels, count)
    if len(masks) == 0:
        assert ours == {"ar_100": 0.0, "ap_50": 0.0, "ap_75": 0.0}
        return
    expected = _oracle(masks, scores, gt_masks)
    assert ours == pytest.approx(expected, abs=1e-6)


def test_by_hand() -> None:
    labels = np.zeros((4, 8), np.int32)
    labels[:, :4], labels[:, 4:] = 1, 2  # two 16-px instances
    exact, half, miss = labels == 1, np.zeros((4, 8), bool), np.zeros((4, 8), bool)
    half[:, 4:6] = True  # IoU 8/16 = 0.5 with instance 2: a hit at 0.5 (inclusive), not at 0.75
    miss[0, 0] = True  # IoU 1/16 with instance 1
    masks = np.stack([miss, exact, half])
    scores = np.array([3.0, 2.0, 1.0])  # ranks: miss (FP), exact (TP), half (TP at 0.5)
    result = im.image_scores(masks, scores, labels, 2)
    assert result["ar_100"] == 1.0
    assert result["ap_50"] == pytest.approx((2 / 3 + 2 / 3) / 2)  # best precision at or after ranks 2 and 3: 2/3
    assert result["ap_75"] == pytest.approx((1 / 2) / 2)  # one of two found, at precision 1/2


def test_gt_instances_are_things_of_at_least_10_px() -> None:
    ids = np.zeros((10, 10), np.int32)
    ids[:2, :] = 26 * 1000 + 1  # a car, 20 px
    ids[2:3, :5] = 24 * 1000 + 0  # a person, 5 px: too small
    ids[3:5, :] = 26  # car crowd region: not an instance
    ids[5:7, :] = 7  # road
    ids[7:9, :] = 24 * 1000 + 3  # a person, 20 px
    labels, count = im.gt_thing_instances(ids)
    assert count == 2 and set(np.unique(labels)) == {0, 1, 2}
    assert (labels[:2] > 0).all() and (labels[7:9] > 0).all() and labels[2:7].max() == 0


def test_cascade_scores_perfect_masks_100(synthetic_val: Path, tmp_path: Path) -> None:
    """GT thing instances written as the instance tool's .npz: recall and both APs are 100."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_val, root)
    labels, instance_ids = cs.label_ids_paths(root, "val"), cs.instance_ids_paths(root, "val")
    for key in labels:
        gt = cs.load_ground_truth(labels[key], instance_ids[key])
        write_png(cs.output_path(root / "trainid", "val", key, ".png"), gt.train_ids)
        numbers, count = im.gt_thing_instances(cs.resize_nearest(gt.instance_ids, (512, 1024)))
        masks = np.stack([(numbers == n).ravel() for n in range(1, count + 1)])
        write_npz(cs.output_path(root / "perfect", "val", key, ".npz"),
                  {"masks": masks, "num_valid": np.int64(count), "h_patches": np.int64(512), "w_patches": np.int64(1024)})
    out = tmp_path / "r.json"
    assert cascade.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", "trainid", "--instance_subdir", "perfect",
                         "--thing_mode", "maskcut", "--output", str(out)]) == 0
    result = json.loads(out.read_text())["instance"]
    assert result["num_images"] == len(labels) and result["avg_pred_instances"] == result["avg_gt_instances"] > 1
    assert result["ar_100"] == result["ap_50"] == result["ap_75"] == 100.0
