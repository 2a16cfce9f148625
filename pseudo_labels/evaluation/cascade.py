"""Panoptic segments from another tool's instance masks: the original cascade evaluator's assembly.

Stuff classes become segments first, then each mask (by descending score,
named by its majority thing class) takes the pixels still free; ``hybrid``
mode adds the connected components of thing pixels no mask covers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npz
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.instances import splitting as inst


THING_MODES = ("connected_components", "maskcut", "hybrid")


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


def segments_from_masks(semantic: np.ndarray, masks: np.ndarray, scores: np.ndarray, min_stuff_area: int,
                        min_new_pixels: int) -> pan.Segments:
    """Stuff classes as segments, then masks by descending score (majority thing class) onto free pixels."""
    ids, stuff = pan.stuff_segment_ids(semantic, min_stuff_area)  # thing (and small-stuff) pixels stay free
    classes = list(stuff)
    for index in np.argsort(-scores, kind="stable"):
        mask = masks[index]
        if not mask.any():
            continue
        majority = int(np.bincount(semantic[mask], minlength=256).argmax())
        if not cs.IS_THING[majority]:
            continue
        new = mask & (ids == 0)
        if new.sum() >= min_new_pixels:
            classes.append(majority)
            ids[new] = len(classes)
    return pan.segments_from_ids(ids, classes)


def add_leftover_components(segments: pan.Segments, semantic: np.ndarray, things: tuple[int, ...],
                            min_area: int) -> pan.Segments:
    """Hybrid mode: each connected component (>= ``min_area`` px) of thing pixels no segment covers, as a segment."""
    ids = segments.ids.copy()
    classes = segments.classes[1:].tolist()
    leftover = inst.cc_instances(np.where(ids == 0, semantic, cs.IGNORE_ID).astype(np.uint8), min_area, things)
    for mask, class_id in zip(leftover.masks(), leftover.classes):
        classes.append(int(class_id))
        ids[mask] = len(classes)
    return pan.segments_from_ids(ids, classes)
