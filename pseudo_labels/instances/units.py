"""What the depth-guided split runs on (the "units"), and the semantic and depth files it reads.

A semantic map holds trainIds or raw cluster ids; the split needs a map of
units and the unit ids that are things:

* trainId semantics: the 19 classes, things = trainIds 11..18;
* raw clusters with a ``cluster_to_class`` map: the classes those clusters map
  to (several clusters of one class form one mask, as in the sweep);
* raw clusters with a label-free ``stuff_things.json``: all thing clusters
  together form one unit (no class is known, and an object usually spans
  several clusters, so cutting at cluster borders would cut objects); depth
  edges alone separate the instances, and each instance is then named by the
  cluster most of its pixels hold.

The exports, the pictures, the label-free decision's evaluation and the
instance tool all pick their units here, so every stage splits the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import first_n
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data import published
from pseudo_labels.formats.centroids import cluster_to_class
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.instances import splitting as inst

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

    def read(self, path: Path) -> np.ndarray:
        """The semantic map at ``path``, its ids checked against these units (void 255 too, for trainIds)."""
        return read_label_png(path, self.max_id + 1, allow_ignore=self.allows_ignore)

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


def train_id_units(allows_ignore: bool = False) -> Units:
    """Units of trainId maps: the 19 classes, things = trainIds 11..18."""
    return Units(_identity(), cs.THING_TRAIN_IDS, "trainIds", cs.NUM_CLASSES - 1, allows_ignore=allows_ignore)


def largest_class_id(semantic: np.ndarray) -> int:
    """The largest id of a semantic map other than void (255 of an 8-bit map); 0 for an all-void map.

    TrainId maps mark void 255 (the CAUSE-27 remap writes it), while 8-bit
    cluster maps of k <= 255 hold ids up to 254, so 255 tells them apart from
    raw cluster ids only when it is left out.
    """
    values = semantic[semantic != cs.IGNORE_ID] if semantic.dtype == np.uint8 else semantic
    return int(values.max()) if values.size else 0


def decide_units(first_map: np.ndarray, centroids_path: Path | None = None, stuff_things_path: Path | None = None,
                 what: str = "semantic maps") -> Units:
    """Pick the units from the inputs and the first semantic map; raw cluster ids (> 18) without a mapping are an
    error saying which flag is missing. A map of ids 0..18 and void 255 holds trainIds."""
    max_id = int(first_map.max()) if first_map.size else 0
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
    largest = largest_class_id(first_map)
    if largest >= cs.NUM_CLASSES:
        raise InputError(f"{what} holds id {largest} > 18: these are raw cluster ids, not trainIds. Pass "
                         f"--centroids_path (its cluster_to_class) or --stuff_things (label-free thing clusters).")
    return train_id_units(allows_ignore=True)


def centroids_beside(semantic_dir: Path) -> Path | None:
    """``{semantic_dir}/../kmeans_centroids.npz``, where the semantics stage writes a split's centroids, if it is there.

    ``semantic_dir`` is one split's folder (``R/pseudo_semantic_raw_k80/train``).
    """
    path = Path(os.path.abspath(semantic_dir)).parent / published.RESTORE_NAME  # the name the semantics stage writes
    return path if path.is_file() else None


def semantic_and_depth(root: Path, semantic_subdir: str, depth_subdir: str, split: str, limit: int | None = None
                       ) -> tuple[dict[str, Path], dict[str, Path], list[str]]:
    """Semantic PNGs of a split (the first ``limit``), the matching depth paths, and those that are missing."""
    found = cs.output_paths(Path(root) / semantic_subdir, split, ".png", "semantic PNG")
    semantic = {key: found[key] for key in first_n(found, limit)}
    depth = {k: cs.output_path(Path(root) / depth_subdir, split, k, ".npy") for k in semantic}
    return semantic, depth, [str(p) for p in depth.values() if not p.is_file()]
