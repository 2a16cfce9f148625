"""Semantic maps (cluster ids or trainIds, one PNG per image): the one reader and its checks.

A map is a single-channel 8-bit PNG, or 16-bit for k > 255 clusters. Every id
is checked against the number of ids the map may hold at full resolution, so a
colour picture or a map of another run stops with the file named, before
anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.cityscapes import IGNORE_ID, LABEL_MODES, read_png


def read_label_png(path: str | Path, num_ids: int | None = None, allow_ignore: bool = False,
                   limit_from: str | None = None) -> np.ndarray:
    """A semantic map (cluster ids or trainIds): HxW uint8 (mode L) or uint16 (I;16), checked at full resolution.

    ``num_ids`` (k for cluster maps): every id must be below it, except 255
    (ignore) with ``allow_ignore``; ``limit_from`` says where that number came from
    when it was not a centroid file (the message names it). An RGB colour picture or a map from
    another run stops here, naming the file, before anything is written.
    """
    array = read_png(path, LABEL_MODES, "a map of ids", "Pass the raw id PNGs, not visualisations (a palette "
                     "PNG's indices can be saved as greyscale: Image.fromarray(np.array(Image.open(f))).save(f)).")
    if array.ndim != 2 or array.dtype not in (np.uint8, np.uint16):
        raise InputError(f"{path}: expected a single-channel 8- or 16-bit map of ids, got shape {array.shape} "
                         f"dtype {array.dtype} (a colour picture?). Pass the raw id PNGs, not visualisations.")
    if num_ids is not None and array.size:
        top = int(np.where(array == IGNORE_ID, 0, array).max()) if allow_ignore else int(array.max())
        if top >= num_ids:
            if limit_from is not None:
                raise InputError(f"{path}: id {top} >= {num_ids} ids ({limit_from}).")
            raise InputError(f"{path}: id {top} >= {num_ids} ids of the centroid file. The semantic maps and the "
                             f"centroid file come from different runs (or k differs).")
    return array


def load_semantic(path: Path, cluster_to_class: np.ndarray, eval_size: tuple[int, int]) -> np.ndarray:
    """Raw cluster PNG (8-bit, or 16-bit for k > 255) -> trainIds through ``cluster_to_class``, at the eval size."""
    clusters = read_label_png(path, len(cluster_to_class))
    semantic = cluster_to_class[clusters]
    return semantic if semantic.shape == tuple(eval_size) else cs.resize_nearest(semantic, eval_size)
