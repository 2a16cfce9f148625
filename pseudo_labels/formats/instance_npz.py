"""Instance files (``{stem}.npz`` or ``{stem}_leftImg8bit.npz``): masks and scores, the original tools' layout.

``masks`` is (N, H*W) flat with ``h_patches`` x ``w_patches`` giving the grid,
or (N, H, W); ``num_valid`` (default N) says how many rows are masks (the
rest is padding); ``scores`` (N,) is optional. :func:`read_instance_masks` is
the one reader; callers differ only in what a file without masks or without a
grid means to the original tool they reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npz
from pseudo_labels.data import cityscapes as cs

RERUN = "Re-run generate_depth_guided_instances.py for this image."


@dataclass(frozen=True)
class InstanceMasks:
    """Masks of one image as the instance ``.npz`` stores them: (M, h, w) bool and (M,) scores or None."""

    masks: np.ndarray
    scores: np.ndarray | None

    def at(self, index: int, shape: tuple[int, int]) -> np.ndarray:
        """Mask ``index`` at ``shape`` (Pillow NEAREST when the sizes differ)."""
        mask = self.masks[index]
        return mask if mask.shape == tuple(shape) else cs.resize_nearest(mask, shape)

    def resized(self, size: tuple[int, int]) -> np.ndarray:
        """(M, H, W) bool: every mask at ``size`` (Pillow NEAREST)."""
        if not len(self):
            return np.zeros((0, *size), bool)
        return np.stack([cs.resize_nearest(m.astype(np.uint8), size).astype(bool) for m in self.masks])

    def __len__(self) -> int:
        return len(self.masks)


def instance_npz(folder: str | Path, split: str, key: str) -> Path | None:
    """The instance ``.npz`` of image ``key`` as the original looks for it (``_leftImg8bit.npz``, then ``.npz``)."""
    for suffix in ("_leftImg8bit.npz", ".npz"):
        path = cs.output_path(folder, split, key, suffix)
        if path.is_file():
            return path
    return None


def read_instance_masks(path: Path, require: tuple[str, ...] = (), no_grid_is_empty: bool = False
                        ) -> InstanceMasks | None:
    """The masks of an instance file, checked; errors name the file and the fix.

    ``require``: keys the caller's original tool needs beyond ``masks`` (for
    example ``scores``). Flat masks without ``h_patches``/``w_patches`` are an
    error, or, with ``no_grid_is_empty`` (the original panoptic assembly), mean
    no masks: None, as a file with ``num_valid`` 0 does then.
    """
    arrays = read_npz(path, RERUN)
    missing = [key for key in ("masks", *require) if key not in arrays]
    if missing:
        raise InputError(f"{path}: not an instance file of generate_depth_guided_instances.py: no "
                         f"{', '.join(repr(k) for k in missing)} (keys: {sorted(arrays)}). {RERUN}")
    masks = arrays["masks"]
    count = _whole(arrays, "num_valid", path) if "num_valid" in arrays else len(masks)
    grid = (_whole(arrays, "h_patches", path), _whole(arrays, "w_patches", path)) \
        if "h_patches" in arrays and "w_patches" in arrays else None
    if masks.dtype != bool and not (np.issubdtype(masks.dtype, np.integer) and (masks.size == 0 or masks.max() <= 1
                                                                                 and masks.min() >= 0)):
        raise InputError(f"{path}: masks must be boolean (or 0/1 integers), got {masks.dtype}. {RERUN}")
    if no_grid_is_empty and (count <= 0 or (masks.ndim == 2 and not (grid and grid[0] and grid[1]))):
        return None
    if masks.ndim == 2:
        if grid is None or grid[0] * grid[1] != masks.shape[1]:
            given = "no h_patches and w_patches" if grid is None else \
                f"h_patches x w_patches = {grid[0]} x {grid[1]} = {grid[0] * grid[1]}"
            raise InputError(f"{path}: flat masks of shape {masks.shape} need h_patches x w_patches = "
                             f"{masks.shape[1]} (the pixels of one mask), but the file has {given}. {RERUN}")
        masks = masks[:count].reshape(-1, *grid)
    elif masks.ndim == 3:
        masks = masks[:count]
    else:
        raise InputError(f"{path}: masks must be (N, H*W) or (N, H, W), got shape {masks.shape}. {RERUN}")
    if len(masks) < count:
        raise InputError(f"{path}: num_valid {count} but only {len(masks)} masks. {RERUN}")
    scores = _per_mask(arrays, "scores", count, path)
    if scores is not None and not np.isfinite(scores).all():
        raise InputError(f"{path}: scores hold NaN or inf. {RERUN}")
    classes = _per_mask(arrays, "classes", count, path, integer=True)
    if classes is not None and count and not (0 <= classes.min() and classes.max() <= 255):
        raise InputError(f"{path}: classes must lie in 0..255, got {int(classes.min())}..{int(classes.max())}. {RERUN}")
    painted = arrays.get("painted")
    if painted is not None and (painted.ndim != 1 or not np.issubdtype(painted.dtype, np.integer)
                                or (painted.size and not (0 <= painted.min() and painted.max() < count))):
        raise InputError(f"{path}: painted must be a 1-D integer array of mask indices 0..{count - 1}, got "
                         f"{painted.dtype} of shape {painted.shape}. {RERUN}")
    return InstanceMasks(masks.astype(bool, copy=False), scores)


def _whole(arrays: dict[str, np.ndarray], key: str, path: Path) -> int:
    """A non-negative integer scalar field (``num_valid``, ``h_patches``, ``w_patches``)."""
    value = arrays[key]
    if value.ndim != 0 or not np.issubdtype(value.dtype, np.integer) or int(value) < 0:
        raise InputError(f"{path}: {key} must be a non-negative integer, got {value.dtype} {value.tolist()!r}. {RERUN}")
    return int(value)


def _per_mask(arrays: dict[str, np.ndarray], key: str, count: int, path: Path, integer: bool = False
              ) -> np.ndarray | None:
    """A per-mask field (one value for each of the ``count`` valid masks), checked; None when absent."""
    if key not in arrays:
        return None
    values = arrays[key]
    kind = np.integer if integer else np.number
    if values.ndim != 1 or len(values) < count or not np.issubdtype(values.dtype, kind) or values.dtype == bool:
        raise InputError(f"{path}: {key} must be a 1-D {'integer' if integer else 'numeric'} array with a value "
                         f"for each of the {count} masks, got {values.dtype} of shape {values.shape}. {RERUN}")
    return values[:count]


def masks_from_npz(path: Path, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) bool masks at ``size`` (Pillow NEAREST) and their scores (default: areas at ``size``)."""
    found = read_instance_masks(path)
    resized = found.resized(size)
    scores = resized.sum(axis=(1, 2)).astype(np.float32) if found.scores is None else found.scores
    return resized, scores
