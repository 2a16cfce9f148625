"""Score a CUPS-format label folder against gtFine the way CUPS scores its PQ 27.8 (``pseudo-labels evaluate-cups``).

Reads ``{export_dir}/{stem}_leftImg8bit_{semantic,instance}.png`` and the
``.pt`` files, and ``{root}/gtFine/{split}/{city}/*_gtFine_instanceIds.png``
(ground truth: evaluation only; ``labelIds.png`` is not read, as in CUPS), or
with ``gt_layout`` the KITTI-STEP or BDD100K panoptic GT in the same encoding
(:mod:`pseudo_labels.data.ground_truth`, the one home of GT listing and reading).
Images go in CUPS' order (cities in directory order, files sorted within a
city; other layouts in frame-key order), each is reduced to its
:class:`~pseudo_labels.evaluation.cups_protocol.ImageTable` in a worker
process, and nothing else is kept, so memory does not grow with the
predictions. The protocol itself is :mod:`pseudo_labels.evaluation.cups_protocol`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import default_workers, ordered_map
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.ground_truth import CITYSCAPES, GtSource, ground_truth, gt_folder
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_scores import score_tables
from pseudo_labels.formats import cups_labels
from pseudo_labels.formats.centroids import load_cluster_to_class, thing_clusters

log = logging.getLogger("evaluate-cups")

THINGS_FROM = ("pt", "centroids")
MAX_LISTED = 10
NATIVE = "native"
"""``resolution`` that scores every image at its own GT size (the default for GT other than Cityscapes)."""
CITYSCAPES_RESOLUTION = (1024, 2048)
"""The default size for Cityscapes GT: CUPS' ``val.py`` with ``configs/val_cityscapes.yaml``."""


@dataclass(frozen=True)
class ExportImage:
    """One image's GT and its two label maps."""

    name: str
    ground_truth: GtSource
    semantic: Path
    instance: Path


def default_resolution(gt_layout: str) -> tuple[int, int] | str:
    """1024x2048 for Cityscapes GT (CUPS' published setting), each image's own size (:data:`NATIVE`) otherwise."""
    return CITYSCAPES_RESOLUTION if gt_layout == CITYSCAPES else NATIVE


def cups_order(root: Path, split: str, gt_layout: str = CITYSCAPES) -> list[tuple[str, GtSource]]:
    """(name, GT) of a split in CUPS' order: Cityscapes cities as ``os.listdir`` lists them, files sorted within;
    other layouts in frame-key order (CUPS sorts its KITTI and BDD file names)."""
    sources = ground_truth(gt_layout, root, split)
    if gt_layout != CITYSCAPES:
        return list(sources.items())
    names = list(sources)
    cities = os.listdir(gt_folder(gt_layout, root, split))
    return [(names[i], sources[names[i]]) for i in cp.cups_image_order([sources[n].key for n in names], cities)]


def _listed(paths: list[str]) -> str:
    more = f"\n  ... and {len(paths) - MAX_LISTED} more" if len(paths) > MAX_LISTED else ""
    return "\n  " + "\n  ".join(paths[:MAX_LISTED]) + more


def pair_images(root: Path, split: str, export_dir: Path, gt_layout: str = CITYSCAPES) -> list[ExportImage]:
    """Every GT image of the split with its export files; an image on one side only is an error naming it."""
    stems = set(cups_labels.label_stems(export_dir))
    order = cups_order(root, split, gt_layout)
    where = f"gtFine/{split}" if gt_layout == CITYSCAPES else str(gt_folder(gt_layout, root, split))
    if not order:
        raise InputError(f"{root}/gtFine/{split}: no *_gtFine_instanceIds.png; pass the Cityscapes root and split.")
    naming = ("" if gt_layout == CITYSCAPES else "\nThe export names each frame as cityscapes_names numbers the "
              "split's images (frame keys in sorted order), so export every image of this split.")
    missing = [f"{export_dir / (name + cups_labels.SEMANTIC_SUFFIX)}"
               + ("" if gt_layout == CITYSCAPES else f" (GT {source.path})")
               for name, source in order if name not in stems]
    if missing:
        raise InputError(f"{len(missing)} image(s) of {where} have no export:{_listed(missing)}\n"
                         f"Export the whole split (pseudo-labels cups --split {split}), or pass the matching --split."
                         f"{naming}")
    extra = sorted(stems - {name for name, _ in order})
    if extra:
        raise InputError(f"{len(extra)} exported image(s) have no GT image in {gt_folder(gt_layout, root, split)}:"
                         f"{_listed([str(export_dir / (s + cups_labels.SEMANTIC_SUFFIX)) for s in extra])}\n"
                         f"Score an export of that split only (--split), or remove them.")
    images = []
    for name, source in order:
        instance = export_dir / f"{name}{cups_labels.INSTANCE_SUFFIX}"
        if not instance.is_file():
            raise InputError(f"{instance}: missing beside its semantic map; re-run the export.")
        images.append(ExportImage(name, source, export_dir / f"{name}{cups_labels.SEMANTIC_SUFFIX}", instance))
    return images


def image_table(image: ExportImage, num_pseudo: int, resolution: tuple[int, int] | str) -> cp.ImageTable:
    """Read one image's GT and labels, bring both to ``resolution`` (torch nearest; :data:`NATIVE`: the GT's own
    size) and count its table."""
    instance_ids = image.ground_truth.read()
    size = instance_ids.shape if resolution == NATIVE else resolution
    gt = cp.resized_ground_truth(instance_ids, size, str(image.ground_truth.path))
    pseudo = cups_labels.read_semantic_labels(image.semantic, num_pseudo)
    instance = cups_labels.read_instance_labels(image.instance)
    if pseudo.shape != instance.shape:
        raise InputError(f"{image.instance}: {instance.shape[0]}x{instance.shape[1]}, where its semantic map is "
                         f"{pseudo.shape[0]}x{pseudo.shape[1]}; re-run the export.")
    scale = cp.scale_factor(pseudo.shape, size, str(image.semantic))
    return cp.image_table(cs.resize_nearest_scaled(pseudo, scale), cs.resize_nearest_scaled(instance, scale), gt)


def _table_job(job: tuple[ExportImage, int, tuple[int, int] | str]) -> cp.ImageTable:
    return image_table(*job)


def split_pseudo_classes(export_dir: Path, threshold: float, things_from: str = "pt",
                         centroids_path: Path | None = None) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    """(things, stuffs, K) of an export: CUPS' ``.pt`` rule at ``threshold``, or the centroid file's thing clusters."""
    inside, everywhere, _ = cups_labels.read_distributions(export_dir)
    num_pseudo = len(inside)
    if things_from == "centroids":
        if centroids_path is None:
            raise InputError("--things_from centroids needs --centroids_path (the kmeans_centroids.npz of the export).")
        table = load_cluster_to_class(centroids_path)
        if len(table) != num_pseudo:
            raise InputError(f"{centroids_path}: {len(table)} clusters, where the .pt vectors of {export_dir} have "
                             f"{num_pseudo}; pass the centroid file of this export.")
        things = thing_clusters(table)
        return things, tuple(k for k in range(num_pseudo) if k not in things), num_pseudo
    if things_from != "pt":
        raise ValueError(f"things_from must be one of {THINGS_FROM}")
    things, stuffs = cups_labels.pseudo_class_split(inside, everywhere, threshold)
    if not things:
        window = cups_labels.threshold_range_for_things(inside, everywhere)
        fix = (f"a threshold in [{window[0]:.6g}, {window[1]:.6g}) leaves at least one" if window else
               "no threshold does: no pseudo-class has pixels inside instances")
        raise InputError(f"--thing_stuff_threshold {threshold:g} leaves no thing pseudo-class in {export_dir} "
                         f"(CUPS' .pt rule); {fix}.")
    return things, stuffs, num_pseudo


def evaluate_export(root: Path, export_dir: Path, split: str = "val", resolution: tuple[int, int] | str | None = None,
                    threshold: float = cups_labels.CUPS_DEFAULT_THRESHOLD, things_from: str = "pt",
                    centroids_path: Path | None = None, workers: int | None = None,
                    gt_layout: str = CITYSCAPES) -> dict:
    """The CUPS-protocol record of an export folder (see :func:`pseudo_labels.evaluation.cups_scores.score_tables`).

    ``root`` holds the GT of ``gt_layout``; ``resolution`` (H, W), or :data:`NATIVE` for each image's GT size,
    defaults to :func:`default_resolution` of the layout.
    """
    root, export_dir = Path(root), Path(export_dir)
    resolution = default_resolution(gt_layout) if resolution is None else resolution
    resolution = resolution if resolution == NATIVE else tuple(resolution)
    things, stuffs, num_pseudo = split_pseudo_classes(export_dir, threshold, things_from, centroids_path)
    images = pair_images(root, split, export_dir, gt_layout)
    workers = workers or default_workers()
    log.info("%d images at %s, %d pseudo-classes (%d things from %s), %d workers", len(images),
             "their GT size" if resolution == NATIVE else "%dx%d" % resolution, num_pseudo, len(things),
             "the .pt files" if things_from == "pt" else centroids_path, workers)
    start = time.perf_counter()
    jobs = [(image, num_pseudo, resolution) for image in images]
    tables = list(tqdm(ordered_map(_table_job, jobs, workers), total=len(jobs), desc="evaluate-cups", unit="img"))
    record = score_tables(tables, things, stuffs)
    seconds = time.perf_counter() - start
    log.info("scored %d images in %.1f s", len(images), seconds)
    result = {"protocol": "cups", **record, "resolution": resolution if resolution == NATIVE else list(resolution),
              "thing_stuff_threshold": threshold, "things_from": things_from, "images": len(images), "split": split,
              "export_dir": str(export_dir), "num_pseudo_classes": num_pseudo}
    if gt_layout != CITYSCAPES:  # a Cityscapes record keeps its keys
        result["gt_layout"] = gt_layout
    return result


def read_assignment(path: Path, tau: float | None, min_area: int) -> np.ndarray:
    """The PQ assignment (class 0..26 of each raw pseudo-class) of a CUPS evaluation, for pictures.

    ``path``: an ``evaluate-cups --output`` JSON, or a sweep JSON with cups rows
    (the row of ``tau`` / ``min_area``; tau None is the CC-only row).
    """
    try:
        record = json.loads(Path(path).read_text())
        if record.get("protocol") == "cups":
            assignment = record["assignment_pq"]
        else:
            rows = [e for e in record["results"] if e["protocol"] == "cups" and e["min_area"] == min_area
                    and (e["grad_threshold"] is None if tau is None else
                         e["grad_threshold"] is not None and abs(e["grad_threshold"] - tau) < 1e-9)]
            if not rows:
                raise InputError(f"{path}: no cups row for tau {tau}, A_min {min_area}; run the sweep with "
                                 f"--protocol cups (or all) over these settings, or pass an evaluate-cups JSON.")
            if rows[0].get("assignment_pq") is None:
                raise InputError(f"{path}: the cups row of tau {tau}, A_min {min_area} was not scored "
                                 f"({rows[0].get('error')}).")
            assignment = rows[0]["assignment_pq"]
        classes = np.array(assignment, np.int64)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a CUPS evaluation (evaluate-cups --output) or a sweep JSON with cups rows "
                         f"({exc}).") from None
    if classes.ndim != 1 or not len(classes) or classes.min() < 0 or classes.max() >= cp.NUM_CLASSES:
        raise InputError(f"{path}: assignment_pq must list a class 0..{cp.NUM_CLASSES - 1} per pseudo-class.")
    return classes
