"""CAUSE's own 27-cluster segmentation: the cluster probe over the 90-d features, Hungarian-matched to classes.

* Per window, the probe gives ``log_softmax(3 * cosine)`` over 27 clusters
  (CAUSE's ``forward_centroid(crf=True)``); windows are upsampled and averaged
  exactly like the features (:func:`pseudo_labels.semantics.features.full_resolution`),
  and the argmax is the cluster.
* Several inference scales (the original's ``--scales``): for scale ``s`` the
  image is resized (Pillow BILINEAR) so its short side is ``crop * s``, each
  side floored to a multiple of the patch and at least one window
  (:func:`scaled_size`); the same sliding windows run on it; its averaged
  log-probabilities are resized (PyTorch bilinear, ``align_corners=False``)
  to the scale-1 working size, and the scales' maps are averaged
  (``torch.stack(...).mean(0)``). All windows of all scales of an image (and
  of a batch of images) go through the network in one pass.
* The Hungarian step (an evaluation step that reads val ground truth, as
  CAUSE's own evaluation does) runs one centre crop per val image: the image
  and its labelIds resized so the short side is 322 (Pillow NEAREST, as
  torchvision's ``Resize(322, NEAREST)``) and centre-cropped to 322x322;
  cluster/class pixel counts are matched by ``linear_sum_assignment``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy.optimize import linear_sum_assignment

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import crf, features

NUM = cs.NUM_CAUSE27


def window_log_probs(windows: features.Windows, probe: torch.nn.Module) -> features.Windows:
    """The same windows with 27 cluster log-probabilities instead of 90 features."""
    with torch.inference_mode():
        maps = probe(torch.from_numpy(np.ascontiguousarray(windows.maps))).numpy()
    return features.Windows(maps, windows.ys, windows.xs, windows.size, windows.crop)


def parse_scales(text: str) -> tuple[float, ...]:
    """``"0.75,1.0,1.5"`` -> (0.75, 1.0, 1.5); raises ValueError unless every entry is a positive number."""
    scales = tuple(float(part) for part in text.split(","))
    if not all(np.isfinite(scale) and scale > 0 for scale in scales):
        raise ValueError(f"scales must be positive numbers, got {text!r}")
    return scales


def scaled_size(height: int, width: int, scale: float,
                geometry: features.Geometry = features.DINOV2_GEOMETRY) -> tuple[int, int]:
    """Network input size for one inference scale, as the original: short side ``crop * scale``, sides floored
    to a multiple of the patch and no smaller than one window. ``scale`` 1 gives the working size."""
    factor = geometry.crop / min(height, width) * scale
    patch = geometry.patch
    return (max(geometry.crop, int(round(height * factor)) // patch * patch),
            max(geometry.crop, int(round(width * factor)) // patch * patch))


def scaled_inputs(rgb: np.ndarray, scales: Sequence[float],
                  geometry: features.Geometry = features.DINOV2_GEOMETRY) -> list[np.ndarray]:
    """HxWx3 uint8 -> one (3, h_s, w_s) float32 network input per scale (Pillow BILINEAR, ImageNet normalisation)."""
    return [features.normalise(features.resized_rgb(rgb, scaled_size(*rgb.shape[:2], scale, geometry)))
            for scale in scales]


def window_passes(counts: Sequence[int], max_windows: int | None) -> list[range]:
    """Group consecutive inputs (``counts[i]`` windows each) into network passes of at most ``max_windows``
    windows; an input with more windows gets a pass of its own; None: everything in one pass."""
    if not counts:
        return []
    if max_windows is None:
        return [range(len(counts))]
    passes, start, total = [], 0, 0
    for index, count in enumerate(counts):
        if index > start and total + count > max_windows:
            passes.append(range(start, index))
            start, total = index, 0
        total += count
    passes.append(range(start, len(counts)))
    return passes


def scale_log_probs(model: torch.nn.Module, probe: torch.nn.Module, inputs: Sequence[Sequence[np.ndarray]],
                    device: torch.device | str = "cpu", autocast: bool = False,
                    geometry: features.Geometry = features.DINOV2_GEOMETRY,
                    max_windows: int | None = None) -> list[tuple[features.Windows, ...]]:
    """Per image, per scale: the 27 window log-probabilities. ``inputs[i]`` are image i's :func:`scaled_inputs`.

    Every window of every scale of every image (and its mirror) goes through
    the network in one batch, or in passes of at most ``max_windows`` windows.
    """
    flat = [image for per_image in inputs for image in per_image]
    counts = [len(features.window_grid(image.shape[1:], geometry)) for image in flat]
    windows: list[features.Windows] = []
    for chunk in window_passes(counts, max_windows):
        windows += features.crop_features(model, [flat[i] for i in chunk], device, autocast, geometry)
    log_probs = [window_log_probs(w, probe) for w in windows]
    result, start = [], 0
    for per_image in inputs:
        result.append(tuple(log_probs[start:start + len(per_image)]))
        start += len(per_image)
    return result


def merged_log_probs(per_scale: Sequence[features.Windows], size: tuple[int, int]) -> torch.Tensor:
    """(27, H', W') log-probabilities averaged over scales, each resized to the working size ``size`` first.

    A scale already at ``size`` is not resized (bilinear at the same size is the
    identity), and one scale is returned as is, so scale 1 alone gives exactly
    the single-scale map.
    """
    maps = []
    for windows in per_scale:
        full = features.full_resolution(windows)
        if tuple(full.shape[1:]) != tuple(size):
            full = F.interpolate(full[None], size=tuple(size), mode="bilinear", align_corners=False)[0]
        maps.append(full)
    return maps[0] if len(maps) == 1 else torch.stack(maps).mean(dim=0)


def class_probabilities(log_probs: torch.Tensor, cluster_to_class: np.ndarray, size: tuple[int, int],
                        alpha: float = 3.0) -> torch.Tensor:
    """(27, h, w) float16 class probabilities: channel c is class c (``softmax(alpha * log p)`` of its cluster),
    resized to ``size`` (bilinear, ``align_corners=False``), as the original's ``--save_logits`` files."""
    class_to_cluster = np.argsort(cluster_to_class)
    probabilities = F.softmax(log_probs[torch.from_numpy(class_to_cluster)] * alpha, dim=0)
    return F.interpolate(probabilities[None], size=tuple(size), mode="bilinear", align_corners=False)[0].half()


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


@dataclass(frozen=True)
class LabelJob:
    """One image's CAUSE-27 map to compute (picklable, for CRF worker processes)."""

    key: str
    scales: tuple[features.Windows, ...]  # 27-class log-probability windows per inference scale
    size: tuple[int, int]  # working size (scale 1), where the scales are averaged
    original: tuple[int, int]
    cluster_to_class: np.ndarray
    crf_image_path: Path | None = None  # the image to refine on; None = no CRF
    logits_size: tuple[int, int] | None = None  # also return class probabilities at this size
    geometry: features.Geometry = features.DINOV2_GEOMETRY


def class_map(job: LabelJob) -> tuple[str, np.ndarray, torch.Tensor | None]:
    """(key, CAUSE class ids at the original size, class probabilities or None) of one image."""
    full = merged_log_probs(job.scales, job.size)
    probabilities = None if job.logits_size is None else class_probabilities(full, job.cluster_to_class,
                                                                               job.logits_size)
    if job.crf_image_path is None:
        clusters = full.argmax(dim=0).numpy()
    else:
        rgb = features.working_rgb(cs.read_rgb(job.crf_image_path), job.geometry)
        clusters = crf.refined_labels(rgb, full, crf.PROBE_SCALE)
    return job.key, cs.resize_nearest(job.cluster_to_class[clusters], job.original), probabilities
