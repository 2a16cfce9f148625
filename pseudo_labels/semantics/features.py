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

The numbers above are the DINOv2 ViT-B/14 geometry (:data:`DINOV2_GEOMETRY`);
every function takes a :class:`Geometry` so the DINOv3 ViT-L/16 backbone of the
CAUSE-27 baseline (320 windows, stride 160, 16-pixel patches) runs the same code.
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
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class Geometry:
    """Window size and patch size of a backbone; windows overlap by half (stride ``crop // 2``)."""

    crop: int = CROP
    patch: int = PATCH

    @property
    def stride(self) -> int:
        return self.crop // 2

    @property
    def grid(self) -> int:
        return self.crop // self.patch


DINOV2_GEOMETRY = Geometry(CROP, PATCH)
"""DINOv2 ViT-B/14: 322 windows (23 x 23 patches), stride 161."""


def working_size(height: int, width: int, geometry: Geometry = DINOV2_GEOMETRY) -> tuple[int, int]:
    """(H', W'): short side scaled to the window size, both floored to multiples of the patch, as the reference."""
    scale = geometry.crop / min(height, width)
    patch = geometry.patch
    return patch * (round(height * scale) // patch), patch * (round(width * scale) // patch)


def window_starts(length: int, geometry: Geometry = DINOV2_GEOMETRY) -> list[int]:
    """Window offsets along one axis of the working size: half-window stride, the last flush with the end."""
    if length <= geometry.crop:
        return [0]
    return sorted(set(range(0, length - geometry.crop, geometry.stride)) | {length - geometry.crop})


def resized_rgb(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 -> ``size`` (H, W) x 3 uint8 with Pillow BILINEAR on uint8, as the reference resizes."""
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.BILINEAR))


def working_rgb(rgb: np.ndarray, geometry: Geometry = DINOV2_GEOMETRY) -> np.ndarray:
    """HxWx3 uint8 -> (H', W', 3) uint8 at the working size (Pillow BILINEAR), the image the network and CRF see."""
    return resized_rgb(rgb, working_size(*rgb.shape[:2], geometry))


def normalise(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> (3, H, W) float32: /255, then ImageNet mean/std per channel."""
    normalised = (rgb.astype(np.float32) / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(normalised.transpose(2, 0, 1), dtype=np.float32)


def preprocess(rgb: np.ndarray, geometry: Geometry = DINOV2_GEOMETRY) -> np.ndarray:
    """HxWx3 uint8 -> (3, H', W') float32: Pillow BILINEAR resize to the working size, /255, ImageNet normalisation."""
    return normalise(working_rgb(rgb, geometry))


@dataclass(frozen=True)
class Windows:
    """Crop features of one image: ``maps[i]`` (C, g, g) is the flip-averaged map of window ``(ys[i], xs[i])``.

    C is 90 for CAUSE features (27 for probe log-probabilities, 768 for tokens);
    g = 23 for 322 windows (``crop``) of 14-pixel patches.
    """

    maps: np.ndarray
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    size: tuple[int, int]  # working size (H', W')
    crop: int = CROP  # window size in pixels


def window_grid(size: tuple[int, int], geometry: Geometry = DINOV2_GEOMETRY) -> list[tuple[int, int]]:
    """(y, x) offsets of every window of a working size, row by row."""
    return [(y, x) for y in window_starts(size[0], geometry) for x in window_starts(size[1], geometry)]


def _window_batch(images: Sequence[np.ndarray], geometry: Geometry) -> tuple[list[np.ndarray], list]:
    """Every window of every image, in order, and per image its (size, offsets)."""
    crops, layout = [], []
    for image in images:
        size = image.shape[1:]
        offsets = window_grid(size, geometry)
        for y, x in offsets:
            crops.append(image[:, y:y + geometry.crop, x:x + geometry.crop])
        layout.append((size, offsets))
    return crops, layout


def _split_windows(maps: np.ndarray, layout: list, crop: int) -> list[Windows]:
    result, start = [], 0
    for size, offsets in layout:
        result.append(Windows(maps[start:start + len(offsets)], tuple(y for y, _ in offsets),
                              tuple(x for _, x in offsets), tuple(size), crop))
        start += len(offsets)
    return result


@torch.inference_mode()
def crop_features(model: torch.nn.Module, images: Sequence[np.ndarray], device: torch.device | str = "cpu",
                  autocast: bool = False, geometry: Geometry = DINOV2_GEOMETRY) -> list[Windows]:
    """Flip-averaged window maps of preprocessed images (``preprocess`` output), all in one network batch."""
    return crop_features_and_tokens(model, images, device, autocast, geometry, tokens=False)[0]


@torch.inference_mode()
def crop_features_and_tokens(model: torch.nn.Module, images: Sequence[np.ndarray],
                             device: torch.device | str = "cpu", autocast: bool = False,
                             geometry: Geometry = DINOV2_GEOMETRY,
                             tokens: bool = True) -> tuple[list[Windows], list[Windows] | None]:
    """:func:`crop_features`, plus (with ``tokens``) the backbone's patch tokens of the plain (unmirrored) pass.

    The token windows are (D, g, g) maps, as the original overclustering
    analysis takes its raw DINOv2 features. ``tokens`` needs a model with
    ``features_and_tokens(crops)``; the features are the same either way.
    """
    crops, layout = _window_batch(images, geometry)
    batch = torch.from_numpy(np.stack(crops)).to(device)
    batch = torch.cat([batch, batch.flip(-1)])
    with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=autocast):
        if tokens:
            out, token_rows = model.features_and_tokens(batch)
        else:
            out, token_rows = model(batch), None
    out = out.float()
    plain, mirrored = out[: len(crops)], out[len(crops):]
    # contiguous: the head's output can come back in channels-last layout, and bilinear upsampling of
    # a channels-last tensor sums in another order than that of the same maps read back from a cache
    averaged = ((plain + mirrored.flip(-1)) / 2).contiguous().cpu().numpy()
    features = _split_windows(averaged, layout, geometry.crop)
    if token_rows is None:
        return features, None
    grid = geometry.grid
    maps = token_rows[: len(crops)].float().transpose(1, 2).reshape(len(crops), -1, grid, grid)
    return features, _split_windows(maps.contiguous().cpu().numpy(), layout, geometry.crop)


def full_resolution(windows: Windows) -> torch.Tensor:
    """(C, H', W') float32: window maps upsampled to the window size (bilinear) and averaged where they overlap."""
    height, width = windows.size
    crop = windows.crop
    total = torch.zeros(windows.maps.shape[1], height, width)
    count = torch.zeros(1, height, width)
    maps = torch.from_numpy(np.ascontiguousarray(windows.maps))
    upsampled = F.interpolate(maps, size=(crop, crop), mode="bilinear", align_corners=False)
    for window, y, x in zip(upsampled, windows.ys, windows.xs):
        total[:, y:y + crop, x:x + crop] += window
        count[:, y:y + crop, x:x + crop] += 1
    return total / count.clamp(min=1)


def patch_features(full: torch.Tensor, patch: int = PATCH) -> np.ndarray:
    """(C, H'/patch, W'/patch) float32: the mean of each patch block (the reference's adaptive average pool)."""
    height, width = full.shape[1:]
    return F.adaptive_avg_pool2d(full[None], (height // patch, width // patch))[0].numpy()


def pooled_patch_features(windows: Windows, patch: int = PATCH, channels_per_pass: int = 96) -> np.ndarray:
    """:func:`patch_features` of :func:`full_resolution`, ``channels_per_pass`` channels at a time.

    Upsampling, overlap averaging and pooling act on each channel alone, so
    the result equals the one-pass value; 768-d token maps at 322 x 644 would
    otherwise take 640 MB at once.
    """
    parts = []
    for start in range(0, windows.maps.shape[1], channels_per_pass):
        part = Windows(windows.maps[:, start:start + channels_per_pass], windows.ys, windows.xs, windows.size,
                       windows.crop)
        parts.append(patch_features(full_resolution(part), patch))
    return np.concatenate(parts)


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
