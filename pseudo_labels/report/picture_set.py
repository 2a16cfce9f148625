"""Pictures of a split: choose the images, score them when asked, draw each, and write the index.

``index.json`` lists every image scored (PQ, PQ_stuff, PQ_things, error
counts, picture), which ``report --pictures`` turns into a gallery and a
per-image table; it also records what the pictures show (units, protocol and
the split settings), so a report can say it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_json, write_png
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.instances.units import Units, decide_units
from pseudo_labels.report.pictures import INDEX_NAME, Analysis, Settings, analyse, index_entry, picture, select_keys

log = logging.getLogger("visualize")


@dataclass(frozen=True)
class Selection:
    """Which images to draw: ``stems`` when given, else ``how`` (first, worst, random) with ``limit`` and ``seed``."""

    stems: tuple[str, ...] = ()
    how: str = "first"
    limit: int = 4
    seed: int = 0


def semantic_files(root: Path, semantic_subdir: str, split: str, stems: Sequence[str] = ()) -> dict[str, Path]:
    """The semantic maps of a split (only ``stems`` when given; a stem not found is an error listing it)."""
    files = cs.output_paths(root / semantic_subdir, split, ".png", "semantic PNG")
    if stems:
        wanted = set(stems)
        files = {k: v for k, v in files.items() if k.split("/")[1] in wanted}
        if len(files) != len(wanted):
            raise InputError(f"stems not found under {root / semantic_subdir / split}: "
                             f"{sorted(wanted - {k.split('/')[1] for k in files})}")
    return files


def picture_units(root: Path, semantic_subdir: str, first_map: np.ndarray, centroids_path: Path | None = None,
                  stuff_things: Path | None = None) -> Units:
    """The units the export would use: label-free with ``stuff_things`` (no cluster_to_class), else the centroid
    file (default: the semantic folder's ``kmeans_centroids.npz`` when present), else trainIds."""
    if stuff_things is not None:
        return decide_units(first_map, centroids_path, stuff_things, "semantic maps")
    default = root / semantic_subdir / "kmeans_centroids.npz"
    centroids = centroids_path or (default if default.is_file() else None)
    units = decide_units(first_map, centroids, None, "semantic maps")
    beside = root / semantic_subdir / "stuff_things.json"
    if centroids is not None and beside.is_file():
        log.warning("drawing through the GT-voted cluster_to_class of %s; to draw the label-free labels "
                    "(convert_to_cups_format.py --stuff_things), pass --stuff_things %s", centroids, beside)
    return units


def draw_pictures(root: Path, split: str, semantic_subdir: str, depth_subdir: str, files: dict[str, Path],
                  settings: Settings, selection: Selection, out: Path) -> Path:
    """Draw the selected images of ``files`` into ``out`` (one PNG each, printed) and write ``out/index.json``."""
    units = settings.units
    images = cs.image_paths(root, split)
    labels: dict[str, Path] = {}
    instances: dict[str, Path] = {}
    if (root / "gtFine" / split).is_dir():
        labels, instances = cs.label_ids_paths(root, split), cs.instance_ids_paths(root, split)

    def load(key: str) -> tuple[np.ndarray, Analysis]:
        path = files[key]
        raw = cs.resize_nearest(units.read(path), cs.WORKING_SIZE)
        units.unit_map(raw, path)  # ids checked, naming the file
        depth = load_depth(cs.output_path(root / depth_subdir, split, key, ".npy"), cs.WORKING_SIZE)
        has_gt = key in labels and key in instances
        gt = cs.load_ground_truth(labels[key], instances[key]) if has_gt else None
        return depth, analyse(raw, depth, settings, gt.train_ids if gt else None, gt.instance_ids if gt else None)

    keys = list(files)
    scored: dict[str, Analysis] = {}
    if selection.stems:
        chosen = keys
    elif selection.how == "worst":
        with_gt = [k for k in keys if k in labels and k in instances]
        if not with_gt:
            raise InputError(f"--select worst needs ground truth: {root / 'gtFine' / split} has none for "
                             f"{semantic_subdir}. Use --select first or random.")
        log.info("scoring %d images (PQ_things, %s protocol) to find the worst", len(with_gt), settings.protocol)
        scored = {k: load(k)[1] for k in with_gt}
        chosen = select_keys(with_gt, "worst", selection.limit, {k: a.scores["PQ_things"] for k, a in scored.items()})
    else:
        chosen = select_keys(keys, selection.how, selection.limit, seed=selection.seed)
    entries: dict[str, dict] = {k: index_entry(k, a, None) for k, a in scored.items()}
    for key in chosen:
        depth, analysis = load(key)
        stem = key.split("/")[1]
        image = picture(cs.read_rgb(images[key]), depth, analysis, settings, stem)
        written = write_png(out / f"{stem}.png", image)
        entries[key] = index_entry(key, analysis, written.name)
        print(written)
    split_settings = settings.split
    return write_json(out / INDEX_NAME, {
        "split": split, "semantic_subdir": semantic_subdir, "units": units.source,
        "label_free": settings.label_free, "protocol": settings.protocol, "grad_threshold": split_settings.tau,
        "min_area": split_settings.min_area, "depth_blur_sigma": split_settings.sigma,
        "dilation_iters": split_settings.dilation_iters,
        "select": "stems" if selection.stems else selection.how, "limit": selection.limit,
        "images": [entries[k] for k in keys if k in entries],
    })
