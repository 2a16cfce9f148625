"""Training pseudo-labels from semantics and depth: the sweep's instance algorithm, written for CUPS.

The instances written for training come from :mod:`pseudo_labels.instances.splitting`
with the same settings the sweep evaluates (working size 512x1024, tau, A_min,
blur, dilation) and are painted onto an instance-id map exactly as the
reference protocol paints predictions (area order, an instance kept when it
adds >= 10 new pixels), so the training labels are the evaluated ones.

What the split runs on (the "units"):

* trainId semantics: the 19 classes, things = trainIds 11..18;
* raw clusters with a ``cluster_to_class`` map: the classes those clusters map
  to (several clusters of one class form one mask, as in the sweep);
* raw clusters with a label-free ``stuff_things.json``: all thing clusters
  together form one unit (no class is known, and an object usually spans
  several clusters, so cutting at cluster borders would cut objects); depth
  edges alone separate the instances, and each instance is then named by the
  cluster most of its pixels hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.core.errors import InputError
from pseudo_labels.evaluation.panoptic import THING_MIN_AREA, paint_instances
from pseudo_labels.formats.centroids import cluster_to_class
from pseudo_labels.formats.stuff_things import read_stuff_things

MAX_INSTANCES = 65535
MERGED_THINGS = 255
"""Label-free units: the one unit id every thing cluster maps to (cluster ids are <= 254)."""


@dataclass(frozen=True)
class Units:
    """How to turn a semantic map into the map the split runs on.

    ``lookup``: (256,) uint8 table from semantic ids to unit ids (identity for
    trainIds, ``cluster_to_class`` for mapped clusters; for label-free
    clusters identity except the thing clusters, which all map to
    :data:`MERGED_THINGS`). ``things``: the unit ids that are things.
    ``source``: how this was decided. ``merged``: label-free, with
    ``thing_clusters`` the clusters behind the merged unit.
    """

    lookup: np.ndarray
    things: tuple[int, ...]
    source: str
    max_id: int = 255
    merged: bool = False
    thing_clusters: tuple[int, ...] = ()
    allows_ignore: bool = False
    """trainId maps given as such: 255 (ignore) is allowed and is stuff for the split."""

    @property
    def thing_ids(self) -> tuple[int, ...]:
        """The semantic ids that are things: the thing clusters when merged, else the thing units."""
        return self.thing_clusters if self.merged else self.things

    def unit_map(self, semantic: np.ndarray, path: Path | str = "semantic map") -> np.ndarray:
        """The map the split runs on; an id above ``max_id`` is an error naming ``path``."""
        values = semantic[semantic != cs.IGNORE_ID] if self.allows_ignore else semantic
        largest = int(values.max()) if values.size else 0
        if largest > self.max_id:
            raise InputError(f"{path}: id {largest} is out of range for {self.source} (largest valid id "
                             f"{self.max_id}); raw cluster ids need --centroids_path or --stuff_things.")
        return self.lookup[semantic]

    def named(self, found: inst.Instances, semantic: np.ndarray) -> inst.Instances:
        """The instances of a split, each named by its unit, or for merged units by its majority semantic id."""
        if not self.merged or not len(found):
            return found
        return found.with_classes(majority_ids(found, semantic))


def majority_ids(found: inst.Instances, semantic: np.ndarray) -> np.ndarray:
    """(n,) uint8: the semantic id most of each instance's pixels hold (lowest id on ties)."""
    values = semantic.ravel()[found.pixels].astype(np.int64)
    keys = [owner[owner >= 0].astype(np.int64) * 256 + values[owner >= 0] for owner in (found.first, found.second)]
    counts = np.bincount(np.concatenate(keys), minlength=len(found) * 256).reshape(len(found), 256)
    return counts.argmax(axis=1).astype(np.uint8)


def label_free_units(thing_clusters: tuple[int, ...], source: str, max_id: int = MERGED_THINGS - 1) -> Units:
    """Units of raw clusters with a label-free thing set: every thing cluster maps to :data:`MERGED_THINGS`."""
    lookup = _identity()
    lookup[list(thing_clusters)] = MERGED_THINGS
    return Units(lookup, (MERGED_THINGS,), source, max_id, merged=True, thing_clusters=tuple(thing_clusters))


def _identity() -> np.ndarray:
    return np.arange(256, dtype=np.uint8)


def semantic_and_depth(root: Path, semantic_subdir: str, depth_subdir: str, split: str, limit: int | None = None
                       ) -> tuple[dict[str, Path], dict[str, Path], list[str]]:
    """Semantic PNGs of a split (the first ``limit``), the matching depth paths, and those that are missing."""
    semantic = cs.output_paths(Path(root) / semantic_subdir, split, ".png", "semantic PNG")
    if limit:
        semantic = dict(list(semantic.items())[:limit])
    depth = {k: cs.output_path(Path(root) / depth_subdir, split, k, ".npy") for k in semantic}
    return semantic, depth, [str(p) for p in depth.values() if not p.is_file()]




def train_id_units(allows_ignore: bool = False) -> Units:
    """Units of trainId maps: the 19 classes, things = trainIds 11..18."""
    return Units(_identity(), cs.THING_TRAIN_IDS, "trainIds", cs.NUM_CLASSES - 1, allows_ignore=allows_ignore)


def decide_units(max_id: int, centroids_path: Path | None = None, stuff_things_path: Path | None = None,
                 what: str = "semantic maps") -> Units:
    """Pick the units from the inputs; raw cluster ids (> 18) without a mapping are an error saying which flag is missing."""
    if stuff_things_path is not None:
        num_ids = None
        if centroids_path is not None:
            num_ids = len(cluster_to_class(centroids_path, require_classes=False))
        return label_free_units(read_stuff_things(stuff_things_path, num_ids), f"stuff_things: {stuff_things_path}",
                                MERGED_THINGS - 1 if num_ids is None else num_ids - 1)
    if centroids_path is not None:
        table = cluster_to_class(centroids_path, require_classes=True)
        if max_id >= len(table):
            raise InputError(f"{what}: cluster id {max_id} >= k = {len(table)} of {centroids_path}; the semantics and "
                             f"the centroid file come from different runs.")
        lookup = np.full(max(256, len(table)), cs.IGNORE_ID, np.uint8)  # k > 255: 16-bit cluster maps
        lookup[: len(table)] = table
        return Units(lookup, cs.THING_TRAIN_IDS, f"cluster_to_class: {centroids_path}", len(table) - 1)
    if max_id >= cs.NUM_CLASSES:
        raise InputError(f"{what} holds id {max_id} > 18: these are raw cluster ids, not trainIds. Pass "
                         f"--centroids_path (its cluster_to_class) or --stuff_things (label-free thing clusters).")
    return train_id_units()




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
