"""Training pseudo-labels from semantics and depth: the sweep's instance algorithm, written for CUPS.

The instances written for training come from :mod:`pseudo_labels.instances.splitting`
with the same settings the sweep evaluates (working size 512x1024, tau, A_min,
blur, dilation) and are painted onto an instance-id map exactly as the
reference protocol paints predictions (area order, an instance kept when it
adds >= 10 new pixels), so the training labels are the evaluated ones.

What the split runs on (the "units") is decided in :mod:`pseudo_labels.instances.units`.
"""

from __future__ import annotations

import numpy as np

from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.core.errors import InputError
from pseudo_labels.evaluation.panoptic import THING_MIN_AREA, paint_instances

MAX_INSTANCES = 65535


def instance_id_map(found: inst.Instances, min_new_pixels: int = THING_MIN_AREA) -> tuple[np.ndarray, np.ndarray]:
    """uint16 map with ids 1..N for the painted instances (0 elsewhere) and the indices of those instances.

    Painting is the reference protocol's: area order, an instance kept when it
    adds >= ``min_new_pixels`` free pixels.
    """
    owner, painted = paint_instances(found, min_new_pixels)
    kept = np.flatnonzero(painted)
    if len(kept) > MAX_INSTANCES:
        raise InputError(f"{len(kept)} instances do not fit a uint16 instance map (at most {MAX_INSTANCES}); "
                         f"raise the minimum area.")
    ids = np.zeros(len(found) + 1, np.uint16)  # owner -1 -> 0
    ids[kept] = np.arange(1, len(kept) + 1, dtype=np.uint16)
    flat = np.zeros(found.shape[0] * found.shape[1], np.uint16)
    flat[found.pixels] = ids[owner]
    return flat.reshape(found.shape), kept


def instance_classes(instance_map: np.ndarray, semantic: np.ndarray, num_ids: int = 256) -> np.ndarray:
    """(max id + 1,) uint16: for each instance id the semantic id most of its pixels hold (lowest id on ties).

    ``semantic`` is at the instance map's size; ids >= ``num_ids`` (ignore)
    do not vote. Entry 0 (no instance) and instances without a valid pixel
    hold 0; the caller only reads the ids it painted.
    """
    valid = (instance_map > 0) & (semantic < num_ids)
    top = int(instance_map.max()) if instance_map.size else 0
    keys = instance_map[valid].astype(np.int64) * num_ids + semantic[valid]
    counts = np.bincount(keys, minlength=(top + 1) * num_ids).reshape(top + 1, num_ids)
    return counts.argmax(axis=1).astype(np.uint16)


def paint_instance_classes(semantic: np.ndarray, instance_map: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``semantic`` with every instance's pixels set to its one class, ``classes[id]`` (same size arrays).

    CUPS names an instance by the largest semantic id under its mask and drops
    it when that id is a stuff pseudo-class; with one id per instance the name
    is the instance's majority class.
    """
    return np.where(instance_map > 0, classes[instance_map].astype(semantic.dtype), semantic)


def class_distributions(semantic: np.ndarray, instance_map: np.ndarray, num_classes: int) -> dict[str, np.ndarray]:
    """CUPS' per-class pixel counts: over all pixels, and inside object proposals (instance > 0)."""
    valid = semantic < num_classes
    everywhere = np.bincount(semantic[valid].astype(np.int64), minlength=num_classes)[:num_classes]
    inside = np.bincount(semantic[valid & (instance_map > 0)].astype(np.int64), minlength=num_classes)[:num_classes]
    return {"distribution all pixels": everywhere.astype(np.float32),
            "distribution inside object proposals": inside.astype(np.float32)}


def legacy_instance_map(clusters: np.ndarray, thing_clusters: tuple[int, ...], depth: np.ndarray | None,
                        settings: SplitSettings) -> np.ndarray:
    """The original exporter's instance map: split per raw thing cluster at the size given.

    ``depth`` (bilinearly upsampled to that size by the caller) is min-max
    normalised first; instance ids are 1..N in processing order (cluster
    ascending, then component size), and where instances overlap the later one
    wins. Kept for comparison with published CUPS runs; the evaluated algorithm
    is :func:`pseudo_labels.instances.splitting.split` + :func:`instance_id_map`.
    """
    things = inst.thing_pixels(clusters, thing_clusters)
    if not settings.uses_depth:
        components = inst.components_for_classes(things, None, 0)
    else:
        low, high = float(depth.min()), float(depth.max())
        normalised = (depth - low) / (high - low) if high - low > 0 else np.zeros_like(depth)
        edges = inst.depth_edges(inst.depth_gradient(normalised, settings.sigma), settings.tau)
        components = inst.components_for_classes(things, edges, settings.dilation_iters)
    found = inst.instances_from_components(components, settings.min_area, things, sort_by_area=False)
    if len(found) > MAX_INSTANCES:
        raise InputError(f"{len(found)} instances do not fit a uint16 instance map (at most {MAX_INSTANCES}); "
                         f"raise the minimum area.")
    last = np.maximum(found.first, found.second)  # the later instance wins an overlap
    flat = np.zeros(clusters.size, np.uint16)
    flat[found.pixels] = np.where(last >= 0, last + 1, 0)
    return flat.reshape(clusters.shape)
