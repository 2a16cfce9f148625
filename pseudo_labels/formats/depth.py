"""Depth maps (``{stem}.npy``, HxW float, min-max normalised to [0, 1] by the depth stage): the one reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npy
from pseudo_labels.data import cityscapes as cs


def load_depth(path: Path, eval_size: tuple[int, int]) -> np.ndarray:
    """Depth ``.npy`` (HxW float) at the eval size (Pillow BILINEAR on float32 when resized)."""
    depth = read_npy(path, "Re-run the depth stage for this image.")
    if depth.ndim != 2 or depth.size == 0 or not np.issubdtype(depth.dtype, np.floating):
        raise InputError(f"{path}: depth must be an HxW float array, got shape {depth.shape} dtype {depth.dtype}.")
    if not np.isfinite(depth).all():
        raise InputError(f"{path}: depth holds NaN or inf values. Re-run the depth stage for this image.")
    return depth if depth.shape == tuple(eval_size) else cs.resize_bilinear(depth, eval_size)
