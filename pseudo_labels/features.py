"""CAUSE features of whole images: sliding 322x322 windows, flip averaging, the reference's resizes.

Per image (the reference's ``sliding_window_features``):

1. Resize with Pillow BILINEAR on uint8 so the short side is 322 and both
   sides are floored to multiples of 14 (``14 * (round(side * s) // 14)``,
   Python's round). A float resize differs by +-1 level on ~17 % of values.
2. ``x / 255``, then ImageNet mean/std per channel (float32).
3. Windows of 322 with stride 161 along each axis (the last one flush with the
   border). Every window runs through the network plain and mirrored; the
   mirrored output is flipped back and the two are averaged: (90, 23, 23).
4. Each window map is upsampled to 322x322 (PyTorch bilinear,
   ``align_corners=False``) and overlaps are averaged: the (90, H', W') map.
5. Patch level (the k-means fitting path): the mean of every 14x14 block.

All windows and mirrors of one or several images go through the network as one
batch. The flip-averaged window maps (``crop features``) are what gets cached:
steps 4-5 and the cluster assignment derive from them without the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

CROP = 322
STRIDE = 161
PATCH = 14
GRID = CROP // PATCH  # 23
FEATURE_DIM = 90
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def working_size(height: int, width: int) -> tuple[int, int]:
    """(H', W'): short side scaled to 322, both floored to multiples of 14, as the reference."""
    scale = CROP / min(height, width)
    return PATCH * (round(height * scale) // PATCH), PATCH * (round(width * scale) // PATCH)


def window_starts(length: int) -> list[int]:
    """Window offsets along one axis of the working size: stride 161, the last flush with the end."""
    if length <= CROP:
        return [0]
    return sorted(set(range(0, length - CROP, STRIDE)) | {length - CROP})


def working_rgb(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> (H', W', 3) uint8 at the working size (Pillow BILINEAR), the image the network and CRF see."""
    height, width = working_size(*rgb.shape[:2])
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> (3, H', W') float32: Pillow BILINEAR resize, /255, ImageNet normalisation."""
    resized = working_rgb(rgb).astype(np.float32)
    normalised = (resized / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


@dataclass(frozen=True)
class Windows:
    """Crop features of one image: ``maps[i]`` (90, 23, 23) is the flip-averaged map of window ``(ys[i], xs[i])``."""

    maps: np.ndarray
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    size: tuple[int, int]  # working size (H', W')


def window_grid(size: tuple[int, int]) -> list[tuple[int, int]]:
    """(y, x) offsets of every window of a working size, row by row."""
    return [(y, x) for y in window_starts(size[0]) for x in window_starts(size[1])]


@torch.inference_mode()
def crop_features(model: torch.nn.Module, images: Sequence[np.ndarray], device: torch.device | str = "cpu",
                  autocast: bool = False) -> list[Windows]:
    """Flip-averaged window maps of preprocessed images (``preprocess`` output), all in one network batch."""
    crops, layout = [], []
    for image in images:
        size = image.shape[1:]
        offsets = window_grid(size)
        for y, x in offsets:
            crops.append(image[:, y:y + CROP, x:x + CROP])
        layout.append((size, offsets))
    batch = torch.from_numpy(np.stack(crops)).to(device)
    batch = torch.cat([batch, batch.flip(-1)])
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
        out = model(batch).float()
    plain, mirrored = out[: len(crops)], out[len(crops):]
    # contiguous: the head's output can come back in channels-last layout, and bilinear upsampling of
    # a channels-last tensor sums in another order than that of the same maps read back from a cache
    averaged = ((plain + mirrored.flip(-1)) / 2).contiguous().cpu().numpy()
    result, start = [], 0
    for size, offsets in layout:
        maps = averaged[start:start + len(offsets)]
        start += len(offsets)
        result.append(Windows(maps, tuple(y for y, _ in offsets), tuple(x for _, x in offsets), tuple(size)))
    return result


def full_resolution(windows: Windows) -> torch.Tensor:
    """(C, H', W') float32: window maps upsampled to 322x322 (bilinear) and averaged where they overlap."""
    height, width = windows.size
    total = torch.zeros(windows.maps.shape[1], height, width)
    count = torch.zeros(1, height, width)
    maps = torch.from_numpy(np.ascontiguousarray(windows.maps))
    upsampled = F.interpolate(maps, size=(CROP, CROP), mode="bilinear", align_corners=False)
    for window, y, x in zip(upsampled, windows.ys, windows.xs):
        total[:, y:y + CROP, x:x + CROP] += window
        count[:, y:y + CROP, x:x + CROP] += 1
    return total / count.clamp(min=1)


def patch_features(full: torch.Tensor) -> np.ndarray:
    """(90, H'/14, W'/14) float32: the mean of each 14x14 block (the reference's adaptive average pool)."""
    height, width = full.shape[1:]
    return F.adaptive_avg_pool2d(full[None], (height // PATCH, width // PATCH))[0].numpy()


def cluster_logits(full: torch.Tensor, centroids: np.ndarray) -> torch.Tensor:
    """(k, H', W') cosine similarities of L2-normalised pixel features (eps 1e-12) to the centroids.

    ``centroids`` (k, 90) are used as stored: centroid files hold unit rows in
    float64, and the reference takes their float32 copy without re-normalising.
    """
    unit = F.normalize(full, dim=0)
    channels, height, width = unit.shape
    weights = torch.from_numpy(np.asarray(centroids, np.float32))
    return (weights @ unit.reshape(channels, -1)).reshape(-1, height, width)


def assign_clusters(full: torch.Tensor, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw cluster map: (H', W') uint8 argmax (first index on ties) and the top-1 minus top-2 margin."""
    if len(centroids) > 256:
        raise ValueError(f"{len(centroids)} clusters do not fit a uint8 map")
    logits = cluster_logits(full, centroids)
    top = logits.topk(min(2, len(centroids)), dim=0).values
    return logits.argmax(dim=0).numpy().astype(np.uint8), (top[0] - top[-1]).numpy()
