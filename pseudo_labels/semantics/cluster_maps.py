"""Overclustered semantics over a dataset: feature passes with a cache, k-means fitting, cluster maps.

The network runs once per image: crop features (flip-averaged 322-windows,
float32) either stay in memory between the fitting and the assignment pass
or are cached as ``{cache}/{split}/{city}/{stem}.npy`` (float32, so that
assignment from the cache equals assignment straight from the network; the
patch-level vectors k-means fits on are pooled from them exactly).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import clustering, crf, features
from pseudo_labels.core import distributed
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import read_npy, write_npy
from pseudo_labels.core.manifest import made_from, record_source, source_fingerprint
from pseudo_labels.core.parallel import shard
from pseudo_labels.formats.centroids import FEATURE_DIM

log = logging.getLogger(__name__)

"""Above :data:`cs.MAX_CLUSTERS_8BIT`, cluster maps are 16-bit PNGs (ids 0..k-1); every stage reads both."""


def raw_cluster_map(full: torch.Tensor, centroids: np.ndarray) -> np.ndarray:
    """(H', W') cluster ids by cosine argmax (first index on ties), uint8 or uint16 by k."""
    if len(centroids) <= cs.MAX_CLUSTERS_8BIT:
        return features.assign_clusters(full, centroids)[0]
    return features.cluster_logits(full, centroids).argmax(dim=0).numpy().astype(cs.cluster_map_dtype(len(centroids)))


@dataclass(frozen=True)
class ExtractSettings:
    """How the network is run."""

    device: torch.device
    batch_size: int = 1
    amp: bool = False
    num_workers: int = 0
    cache: Path | None = None
    reuse_cache: bool = True  # False (--overwrite): recompute every entry and rewrite the cache


class _Images(Dataset):
    """Decoded, preprocessed images; a bad file yields its message (raised in the main process)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None, tuple[int, int], str | None]:
        try:
            rgb = cs.read_rgb(self.paths[index])
        except InputError as exc:
            return index, None, (0, 0), str(exc)
        return index, features.preprocess(rgb), rgb.shape[:2], None


def _keep(items: list) -> list:
    for item in items:
        if item[3]:
            raise InputError(item[3])
    return items


def cache_path(cache: Path, split: str, key: str) -> Path:
    return cs.output_path(cache, split, key, ".npy")


def load_cached(path: Path, size: tuple[int, int], fingerprint: str) -> features.Windows | None:
    """Cached crop features of an image of working size ``size``, or None when absent or stale.

    Stale means made from another image (``fingerprint``, see
    :func:`manifest.source_fingerprint`) or of another shape.
    """
    if not made_from(path, fingerprint):
        if path.is_file():
            log.info("%s: cached features were made from another image; recomputing", path)
        return None
    maps = read_npy(path)
    offsets = features.window_grid(size)
    if maps.shape != (len(offsets), FEATURE_DIM, features.GRID, features.GRID) or maps.dtype != np.float32:
        log.warning("%s: cached features have shape %s, expected %d windows; recomputing", path, maps.shape, len(offsets))
        return None
    return features.Windows(maps, tuple(y for y, _ in offsets), tuple(x for _, x in offsets), size)


def image_windows(model: torch.nn.Module, split: str, keys: Sequence[str], paths: Sequence[Path],
                  settings: ExtractSettings, desc: str) -> Iterator[tuple[str, features.Windows, tuple[int, int]]]:
    """(key, crop features, original (H, W)) per image, from the cache when present, else the network (batched)."""
    loader = DataLoader(_Images(paths), batch_size=settings.batch_size, num_workers=settings.num_workers,
                        collate_fn=list)  # bad files are raised here, in the main process (_keep)
    for batch in tqdm(loader, desc=desc, unit="batch" if settings.batch_size > 1 else "img"):
        batch = _keep(batch)
        pending, cached = [], {}
        fingerprints = {index: source_fingerprint(paths[index]) for index, *_ in batch} if settings.cache else {}
        for index, image, original, _ in batch:
            size = tuple(image.shape[1:])
            found = None
            if settings.cache and settings.reuse_cache:
                found = load_cached(cache_path(settings.cache, split, keys[index]), size, fingerprints[index])
            if found is None:
                pending.append((index, image, original))
            else:
                cached[index] = (found, original)
        if pending:
            computed = features.crop_features(model, [image for _, image, _ in pending], settings.device, settings.amp)
            for (index, _, original), windows in zip(pending, computed):
                if settings.cache:
                    entry = write_npy(cache_path(settings.cache, split, keys[index]), windows.maps.astype(np.float32))
                    record_source(entry, fingerprints[index])
                cached[index] = (windows, original)
        for index, _, _, _ in batch:
            windows, original = cached[index]
            yield keys[index], windows, original


def fit_on_split(model: torch.nn.Module, root: Path, split: str, keys: Sequence[str], settings: ExtractSettings,
                 k: int, method: str, n_init: int, seed: int, label_free: bool,
                 keep: dict[str, tuple[features.Windows, tuple[int, int]]] | None = None,
                 process: distributed.Process = distributed.Process(),
                 images: Mapping[str, Path] | None = None) -> clustering.Clustering:
    """Sample patch features of every image (GT read only when not ``label_free``) and fit k-means.

    ``images`` (key -> file) are the frames of another layout; None: the
    Cityscapes split ``{root}/leftImg8bit/{split}``.

    ``keep`` (optional) receives the crop features, so a following assignment
    pass on the same split needs no second network pass. Under ``torchrun``
    each rank computes the features of its share of ``keys``; rank 0 gathers
    them and samples in image order, so the centroids equal a single process's,
    and sends them to every rank.
    """
    images = cs.image_paths(root, split) if images is None else images
    labels = None if label_free else cs.label_ids_paths(root, split)
    sampler = clustering.FitSampler(seed=seed, label_free=label_free)
    mine = shard(list(keys), process.world, process.rank)
    collected = []
    for key, windows, original in image_windows(model, split, mine, [images[k_] for k_ in mine], settings,
                                                 f"features {split}"):
        patches = features.patch_features(features.full_resolution(windows))
        gt = None
        if labels is not None:
            if key not in labels:
                raise InputError(f"no gtFine labelIds for {key} under {root}/gtFine/{split}: fitting with the "
                                 f"majority-vote map needs them (or pass --label_free).")
            gt = cs.load_train_ids(labels[key])
        collected.append((key, patches, gt))
        if keep is not None:
            keep[key] = (windows, original)
    parts = distributed.gather_to_leader(process, collected)
    fitted = None
    if process.leader:
        for _, patches, gt in sorted((item for part in parts for item in part), key=lambda item: item[0]):
            sampler.add(patches, gt)  # in image order, whatever rank computed it
        log.info("fitting %s k-means (k=%d) on %d vectors", method, k, sum(len(v) for v in sampler.vectors))
        fitted = clustering.fit(sampler, k, method, n_init, "cpu" if process.world > 1 else settings.device)
    return distributed.from_leader(process, fitted)


def label_map(windows: features.Windows, original: tuple[int, int], centroids: np.ndarray,
              cluster_to_class: np.ndarray | None, crf_image: np.ndarray | None = None) -> np.ndarray:
    """Raw cluster ids (``cluster_to_class`` None) or trainIds (mapped mode) at the original size (Pillow NEAREST).

    With ``crf_image`` (the working-size RGB, :func:`features.working_rgb`) the
    labels are the dense CRF's refinement of ``softmax(5 * similarities)``.
    """
    full = features.full_resolution(windows)
    if crf_image is not None:
        logits = features.cluster_logits(full, centroids)
        if cluster_to_class is not None:
            logits = clustering.class_logits(logits, cluster_to_class)
        working = crf.refined_labels(crf_image, logits, crf.SIMILARITY_SCALE)
    elif cluster_to_class is None:
        working = raw_cluster_map(full, centroids)
    else:
        working = clustering.classes_from_clusters(features.cluster_logits(full, centroids), cluster_to_class)
    return cs.resize_nearest(working, original)


@dataclass(frozen=True)
class LabelJob:
    """One image's label map to compute (picklable, for CRF worker processes)."""

    key: str
    windows: features.Windows
    original: tuple[int, int]
    centroids: np.ndarray
    cluster_to_class: np.ndarray | None
    crf_image_path: Path | None = None  # the image file to refine on; None = no CRF


def run_label_job(job: LabelJob) -> tuple[str, np.ndarray]:
    """(key, label map) of a :class:`LabelJob`."""
    image = None if job.crf_image_path is None else features.working_rgb(cs.read_rgb(job.crf_image_path))
    return job.key, label_map(job.windows, job.original, job.centroids, job.cluster_to_class, image)


