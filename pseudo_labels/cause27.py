"""CAUSE's own 27-cluster segmentation: the cluster probe over the 90-d features, Hungarian-matched to classes.

* Per window, the probe gives ``log_softmax(3 * cosine)`` over 27 clusters
  (CAUSE's ``forward_centroid(crf=True)``); windows are upsampled and averaged
  exactly like the features (:func:`pseudo_labels.features.full_resolution`),
  and the argmax is the cluster.
* The Hungarian step (an evaluation step that reads val ground truth, as
  CAUSE's own evaluation does) runs one centre crop per val image: the image
  and its labelIds resized so the short side is 322 (Pillow NEAREST, as
  torchvision's ``Resize(322, NEAREST)``) and centre-cropped to 322x322;
  cluster/class pixel counts are matched by ``linear_sum_assignment``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment

from pseudo_labels import cityscapes as cs
from pseudo_labels import crf, features

NUM = 27


def window_log_probs(windows: features.Windows, probe: torch.nn.Module) -> features.Windows:
    """The same windows with 27 cluster log-probabilities instead of 90 features."""
    with torch.inference_mode():
        maps = probe(torch.from_numpy(np.ascontiguousarray(windows.maps))).numpy()
    return features.Windows(maps, windows.ys, windows.xs, windows.size)


def centre_crop(array: np.ndarray, crop: int = features.CROP) -> np.ndarray:
    """torchvision ``Resize(crop, NEAREST)`` then ``CenterCrop(crop)`` of an image or label map, with Pillow."""
    height, width = array.shape[:2]
    if height <= width:
        size = (crop, int(crop * width / height))
    else:
        size = (int(crop * height / width), crop)
    resized = np.asarray(Image.fromarray(array).resize(size[::-1], Image.NEAREST))
    top = int(round((size[0] - crop) / 2.0))
    left = int(round((size[1] - crop) / 2.0))
    return resized[top:top + crop, left:left + crop]


def histogram(clusters: np.ndarray, label_ids: np.ndarray) -> np.ndarray:
    """(27 clusters, 27 classes) pixel counts; classes are labelIds 7..33, others ignored."""
    classes = cs.LABEL_ID_TO_CAUSE27[label_ids]
    valid = classes < NUM
    return np.bincount(clusters[valid].astype(np.int64) * NUM + classes[valid], minlength=NUM * NUM).reshape(NUM, NUM)


def hungarian(counts: np.ndarray) -> dict:
    """Cluster -> class by maximum matching, with the matched 27-class IoU per class (percent)."""
    clusters, classes = linear_sum_assignment(counts, maximize=True)
    cluster_to_class = np.empty(NUM, np.int64)
    cluster_to_class[clusters] = classes
    matched = np.zeros((NUM, NUM), np.int64)  # [class, class]
    matched[cluster_to_class] = counts  # rows: the class each cluster was given
    tp = np.diag(matched).astype(np.float64)
    union = matched.sum(axis=0) + matched.sum(axis=1) - tp
    present = union > 0
    iou = np.where(present, tp / np.maximum(union, 1), np.nan)
    return {
        "cluster_to_class": cluster_to_class.tolist(),
        "class_to_cluster": np.argsort(cluster_to_class).tolist(),
        "miou_27class": float(np.nanmean(iou) * 100) if present.any() else 0.0,
        "per_class_iou": {name: (None if np.isnan(iou[i]) else float(iou[i] * 100))
                          for i, name in enumerate(cs.CAUSE27_NAMES)},
    }


def class_map(job: tuple[str, features.Windows, tuple[int, int], np.ndarray, Path | None]) -> tuple[str, np.ndarray]:
    """(key, CAUSE class ids at the original size) from one image's window log-probabilities.

    ``job`` = (key, log-probability windows, original (H, W), cluster_to_class,
    image file for the dense CRF or None). Picklable, for CRF worker processes.
    """
    key, windows, original, cluster_to_class, crf_image_path = job
    full = features.full_resolution(windows)
    if crf_image_path is None:
        clusters = full.argmax(dim=0).numpy()
    else:
        clusters = crf.refined_labels(features.working_rgb(cs.read_rgb(crf_image_path)), full, crf.PROBE_SCALE)
    return key, cs.resize_nearest(cluster_to_class[clusters], original)
