"""Centroid files (``kmeans_centroids.npz``): ``centroids`` (k, 90) and ``cluster_to_class`` (k,), read and checked once.

``cluster_to_class`` maps each cluster to a trainId (0..18), or to 255 for a
label-free file; every stage that names clusters by class reads it here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npz
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.cityscapes import IGNORE_ID, MAX_CLUSTERS, NUM_CLASSES

FEATURE_DIM = 90
"""Width of the CAUSE features, and so of every centroid."""


def checked_cluster_to_class(table: np.ndarray, source: str | Path) -> np.ndarray:
    """A cluster -> trainId table as uint8 (k,), checked: 1-D, integer, 1..65536 entries, trainIds 0..18 or 255.

    ``source`` names the file in the message (a table of strings or floats
    would otherwise index arrays wrongly or fail deep inside a stage).
    """
    table = np.asarray(table)
    if not np.issubdtype(table.dtype, np.integer) and table.dtype != np.bool_:
        raise InputError(f"{source}: cluster_to_class must hold integer trainIds, got dtype {table.dtype}. "
                         f"Rebuild the cluster-to-class map (mapping stage).")
    if table.ndim != 1 or len(table) == 0 or len(table) > 65536:
        raise InputError(f"{source}: cluster_to_class must be a 1-D array of 1..65536 entries (one per cluster of "
                         f"an 8- or 16-bit cluster map), got shape {table.shape}.")
    if not np.all(((table >= 0) & (table < NUM_CLASSES)) | (table == IGNORE_ID)):
        raise InputError(f"{source}: cluster_to_class holds values outside the trainIds 0..18 (and 255).")
    return table.astype(np.uint8)


def load_cluster_to_class(path: str | Path) -> np.ndarray:
    """``cluster_to_class`` (k,) uint8 of a ``kmeans_centroids.npz``; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: centroid file not found. Pass --centroids_path, or write it with "
                         f"generate_overclustered_semantics.py.")
    arrays = read_npz(path, "Pass a kmeans_centroids.npz written by generate_overclustered_semantics.py.")
    if "cluster_to_class" not in arrays:
        raise InputError(f"{path}: has no 'cluster_to_class' array (keys: {sorted(arrays)}). "
                         f"Build the cluster-to-class map first (mapping stage).")
    return checked_cluster_to_class(arrays["cluster_to_class"], path)


def load_centroid_file(path: Path, need_classes: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(centroids, cluster_to_class) of a centroid file, checked: width 90, k <= 65535, a valid map when needed."""
    if not path.is_file():
        raise InputError(f"{path}: centroid file not found (--load_centroids).")
    arrays = read_npz(path, "Pass a kmeans_centroids.npz written by generate_overclustered_semantics.py.")
    centroids, table = arrays.get("centroids"), arrays.get("cluster_to_class")
    if centroids is None or centroids.ndim != 2 or centroids.shape[1] != FEATURE_DIM:
        shape = None if centroids is None else centroids.shape
        raise InputError(f"{path}: 'centroids' must be (k, {FEATURE_DIM}) for CAUSE features, got {shape}.")
    if len(centroids) > MAX_CLUSTERS:
        raise InputError(f"{path}: k = {len(centroids)} clusters do not fit the 16-bit cluster PNGs "
                         f"(k <= {MAX_CLUSTERS}).")
    if not np.all(np.isfinite(centroids)) or not np.all(np.linalg.norm(centroids, axis=1) > 0):
        bad = np.flatnonzero(~np.isfinite(centroids).all(axis=1) | ~(np.linalg.norm(centroids, axis=1) > 0))
        raise InputError(f"{path}: centroid rows {bad[:5].tolist()} are NaN, inf or zero; every pixel would go to "
                         f"one cluster. Refit, or pass another centroid file.")
    if need_classes:
        if table is not None:
            table = checked_cluster_to_class(table, path)
        if table is None or table.shape != (len(centroids),) or not np.all(table < cs.NUM_CLASSES):
            raise InputError(f"{path}: mapped output needs a 'cluster_to_class' of {len(centroids)} trainIds 0..18; "
                             f"pass --raw_clusters for cluster ids.")
        return centroids, table.astype(np.uint8)
    return centroids, None


def cluster_to_class(path: Path, require_classes: bool) -> np.ndarray:
    """``cluster_to_class`` of a centroid file (all trainIds 0..18 when ``require_classes``); errors name the file."""
    table = load_cluster_to_class(path)
    if require_classes and not np.all(table < cs.NUM_CLASSES):
        raise InputError(f"{path}: cluster_to_class holds 255 (a label-free file?); pass --stuff_things instead.")
    return table


def thing_clusters(cluster_to_class: np.ndarray) -> tuple[int, ...]:
    """The clusters whose class is a thing trainId (11..18), ascending: the GT-voted thing set of a centroid file."""
    return tuple(int(c) for c in np.flatnonzero(cs.IS_THING[np.asarray(cluster_to_class)]))
