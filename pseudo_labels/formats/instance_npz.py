"""Instance files (``{stem}.npz`` or ``{stem}_leftImg8bit.npz``): masks and scores, the original tools' layout.

``masks`` (N, H, W) bool or (N, H*W) flat with ``h_patches``/``w_patches``,
``scores`` (N,) (default: areas), ``num_valid`` (masks past it are padding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npz
from pseudo_labels.data import cityscapes as cs


def instance_npz(folder: str | Path, split: str, key: str) -> Path | None:
    """The instance ``.npz`` of image ``key`` as the original looks for it (``_leftImg8bit.npz``, then ``.npz``)."""
    for suffix in ("_leftImg8bit.npz", ".npz"):
        path = cs.output_path(folder, split, key, suffix)
        if path.is_file():
            return path
    return None


def masks_from_npz(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) bool masks at ``size`` (Pillow NEAREST) and their scores (default: areas at ``size``)."""
    npz = read_npz(path, "Re-run the instance stage for this image.")
    if "masks" not in npz:
        raise InputError(f"{path}: not an instance .npz with 'masks' (keys: {sorted(npz)}).")
    masks, scores = npz["masks"], npz.get("scores")
    count = int(npz["num_valid"]) if "num_valid" in npz else len(masks)
    grid = (int(npz["h_patches"]), int(npz["w_patches"])) if "h_patches" in npz and "w_patches" in npz else None
    masks = masks[:count]
    if masks.ndim == 2:
        if grid is None or grid[0] * grid[1] != masks.shape[1]:
            raise InputError(f"{path}: flat masks need h_patches x w_patches = {masks.shape[1]}.")
        masks = masks.reshape(count, *grid)
    resized = np.stack([cs.resize_nearest(m.astype(np.uint8), size).astype(bool) for m in masks]) if count else \
        np.zeros((0, *size), bool)
    scores = resized.sum(axis=(1, 2)).astype(np.float32) if scores is None else scores[:count]
    return resized, scores
