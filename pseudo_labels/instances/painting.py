"""From a set of (possibly overlapping) instances to one instance-id map, and each instance's one class.

Every stage that turns :class:`~pseudo_labels.instances.splitting.Instances`
into labels goes through here, so the maps the protocols score, the files the
exports write and the labels the sweep scores "as CUPS would" agree pixel for
pixel:

* :func:`paint_instances` / :func:`instance_id_map`: area order, an instance
  kept when it adds enough free pixels (the reference protocol's painting);
* :func:`drawn_instance_map`: the original scripts' drawing, where a later mask
  wins an overlap;
* :func:`instance_classes` / :func:`paint_instance_classes`: each instance named
  by the id most of its pixels hold, and its pixels painted with that id.
"""

from __future__ import annotations

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.instances.splitting import Instances

MAX_INSTANCES = 65535
"""Most instances a uint16 instance map holds (id 0 is "no instance")."""


def paint_instances(instances: Instances, min_new_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Paint instances in order onto pixels no earlier painted instance took.

    An instance is painted when it adds >= ``min_new_pixels`` new pixels; an
    unpainted instance leaves its pixels free for later ones. Returns the owner
    index of each pixel of ``instances.pixels`` (-1 for none) and the (n,)
    painted flags. Vectorised: a pixel lies in at most two instances, so one
    pair histogram decides every instance.
    """
    n = len(instances)
    painted = np.zeros(n, bool)
    if n == 0:
        return np.full(len(instances.pixels), -1, np.int32), painted
    a = instances.first.astype(np.int64)
    b = np.where(instances.second >= 0, instances.second, n).astype(np.int64)  # n = "no second instance"
    held = a >= 0
    pairs = np.bincount(a[held] * (n + 1) + b[held], minlength=n * (n + 1)).reshape(n, n + 1)
    for k in range(n):
        # pixels where k comes first, plus pixels where k comes second after an unpainted instance
        new = pairs[k].sum() + pairs[:k, k][~painted[:k]].sum()
        painted[k] = new >= min_new_pixels
    painted_or_none = np.append(painted, False)  # index n ("none") and -1 are never painted
    owner = np.where(painted_or_none[a], a, np.where(painted_or_none[b], b, -1))
    return owner.astype(np.int32), painted


def _check_fits(count: int) -> None:
    if count > MAX_INSTANCES:
        raise InputError(f"{count} instances do not fit a uint16 instance map (at most {MAX_INSTANCES}); "
                         f"raise the minimum area.")


def instance_id_map(found: Instances, min_new_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """uint16 map with ids 1..N for the painted instances (0 elsewhere) and the indices of those instances.

    Painting is :func:`paint_instances`: area order, an instance kept when it
    adds >= ``min_new_pixels`` free pixels.
    """
    owner, painted = paint_instances(found, min_new_pixels)
    kept = np.flatnonzero(painted)
    _check_fits(len(kept))
    ids = np.zeros(len(found) + 1, np.uint16)  # owner -1 -> 0
    ids[kept] = np.arange(1, len(kept) + 1, dtype=np.uint16)
    flat = np.zeros(found.shape[0] * found.shape[1], np.uint16)
    flat[found.pixels] = ids[owner]
    return flat.reshape(found.shape), kept


def drawn_instance_map(found: Instances) -> np.ndarray:
    """uint16 map as the original scripts draw masks: instance i is id i+1 and a later instance wins an overlap."""
    _check_fits(len(found))
    last = np.maximum(found.first, found.second)
    flat = np.zeros(found.shape[0] * found.shape[1], np.uint16)
    flat[found.pixels] = np.where(last >= 0, last + 1, 0)
    return flat.reshape(found.shape)


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


def one_class_per_instance(clusters: np.ndarray, found: Instances, num_ids: int, min_new_pixels: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """The labels the CUPS export writes, at the split's size: (semantic map, instance-id map).

    Instances are painted (:func:`instance_id_map`) and every painted
    instance's pixels take its majority id of ``clusters`` (ids >= ``num_ids``
    do not vote), so each instance holds one pseudo-class.
    """
    instance_map, _ = instance_id_map(found, min_new_pixels)
    classes = instance_classes(instance_map, clusters, num_ids)
    return paint_instance_classes(clusters, instance_map, classes), instance_map
