"""The sweep of one split, end to end: find the files, run the grid, write the result JSON and its manifest.

Reads ``{root}/{semantic_subdir}/{split}/{city}/{stem}.png`` (raw cluster ids),
the centroid file's ``cluster_to_class``, ``{root}/{depth_subdir}/...npy`` and
the gtFine labelIds/instanceIds (ground truth: evaluation only).
:func:`run_sweep_split` writes ``{root}/sweep_k{k}_spidepth_{split}.json`` (or
the ``output`` given), its per-image statistics (``.images.npz``) and a
manifest beside it, or, for one shard of a sharded run, that shard's
statistics (:func:`pseudo_labels.evaluation.sweep_record.merge_shards`
joins them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import prepare_output_file, sha256_file, sha256_lines, sha256_of_lines
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import default_workers, run_shard
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.sources import split_sources
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.evaluation.cups_protocol import CUPS
from pseudo_labels.evaluation.sweep_record import shard_path, write_results, write_shard
from pseudo_labels.evaluation.sweep_cups import cups_settings
from pseudo_labels.formats.centroids import load_cluster_to_class, thing_clusters
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA

log = logging.getLogger("sweep")  # the command's name, as its log lines have always said

MAX_LISTED = 10
"""Missing input files listed by name in the error (the rest are counted)."""


def _first_existing(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def discover(root: Path, split: str, semantic_subdir: str, depth_subdir: str, needs_depth: bool,
             skip_missing: bool) -> list[sweep.ImageFiles]:
    """Pair every GT image with its semantic PNG and depth map; report missing files together."""
    labels = cs.label_ids_paths(root, split)
    instances = cs.instance_ids_paths(root, split)
    found, missing = [], []
    for key, label_path in labels.items():
        semantic = _first_existing(*(root / semantic_subdir / split / f"{key}{s}" for s in (".png", cs.IMAGE_SUFFIX)))
        depth = _first_existing(*(root / depth_subdir / split / f"{key}{s}" for s in (".npy", "_leftImg8bit.npy")))
        problems = []
        if key not in instances:
            problems.append(str(label_path).replace(cs.LABEL_IDS_SUFFIX, cs.INSTANCE_IDS_SUFFIX))
        if semantic is None:
            problems.append(str(root / semantic_subdir / split / f"{key}.png"))
        if needs_depth and depth is None:
            problems.append(str(root / depth_subdir / split / f"{key}.npy"))
        if problems:
            missing.extend(problems)
            continue
        found.append(sweep.ImageFiles(key, semantic, depth or Path(), label_path, instances[key]))
    if missing and not skip_missing:
        listed = "\n  ".join(missing[:MAX_LISTED])
        more = f"\n  ... and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise InputError(f"{len(missing)} input file(s) missing for the {split} split:\n  {listed}{more}\n"
                         f"Generate them, or pass --skip_missing to evaluate only complete images.")
    if missing:
        log.warning("skipping %d image(s) with missing files (--skip_missing)", len(labels) - len(found))
    if not found:
        raise InputError(f"no image of {root}/gtFine/{split} has both semantics ({semantic_subdir}) and depth "
                         f"({depth_subdir}).")
    return found


PROTOCOL_CHOICES = {"both": pan.PROTOCOLS, "all": sweep.PROTOCOLS, **{p: (p,) for p in sweep.PROTOCOLS}}
"""``--protocol`` values: one protocol, ``both`` (reference and official, as the original) or ``all`` (with cups)."""


def protocol_flag(protocols: Sequence[str]) -> str:
    """The ``--protocol`` value that names ``protocols`` (``a+b`` when none does)."""
    return next((flag for flag, chosen in PROTOCOL_CHOICES.items() if chosen == tuple(protocols)), "+".join(protocols))


@dataclass(frozen=True)
class SweepRun:
    """What :func:`run_sweep_split` wrote: the result ``record`` at ``output``, or (one shard) the ``shard`` file."""

    output: Path
    record: dict | None = None
    shard: Path | None = None


def run_sweep_split(root: Path, split: str = "val", *, semantic_subdir: str = "pseudo_semantic_raw_k50",
                    depth_subdir: str = cs.DEPTH_SUBDIR, centroids_path: Path | None = None,
                    eval_size: tuple[int, int] = cs.WORKING_SIZE, grad_thresholds: Sequence[float] | None = None,
                    min_areas: Sequence[int] | None = None, cc_baseline: bool = True,
                    depth_blur_sigma: float = DEFAULT_SIGMA, dilation_iters: int = DEFAULT_DILATION_ITERS,
                    protocols: Sequence[str] = pan.PROTOCOLS, thing_stuff_threshold: float | None = None,
                    max_images: int | None = None,
                    skip_missing: bool = False, output: Path | None = None, workers: int | None = None,
                    num_shards: int = 1, shard_index: int = 0,
                    arguments: Mapping[str, Any] | None = None) -> SweepRun:
    """The (tau, A_min) sweep of one split, scored under ``protocols``, written as JSON + manifest.

    ``centroids_path`` None: ``{root}/{semantic_subdir}/kmeans_centroids.npz``.
    The grid is :func:`pseudo_labels.evaluation.sweep.build_grid`'s (the
    reference grid when neither list is given). ``output`` None:
    ``{root}/sweep_k{k}_spidepth_{split}.json``. ``workers`` None or 0: the
    default. With ``num_shards`` > 1 only shard ``shard_index`` of the images
    runs and its statistics go to a shard file instead. ``arguments``: the
    settings the manifest records (a command passes its flags); None records this call's.
    ``protocols`` may include "cups" (:mod:`pseudo_labels.evaluation.sweep_cups`), whose thing/stuff split
    uses ``thing_stuff_threshold`` (None: per configuration, the midpoint of the interval that gives the
    centroid file's thing clusters).
    """
    if arguments is None:  # under the command's flag names
        arguments = {"cityscapes_root": root, "split": split, "eval_size": eval_size,
                     "semantic_subdir": semantic_subdir, "depth_subdir": depth_subdir,
                     "centroids_path": centroids_path, "max_images": max_images, "grad_thresholds": grad_thresholds,
                     "min_areas": min_areas, "no_cc_baseline": not cc_baseline, "depth_blur_sigma": depth_blur_sigma,
                     "dilation_iters": dilation_iters,
                     "protocol": protocol_flag(protocols), "thing_stuff_threshold": thing_stuff_threshold,
                     "output": output, "workers": workers, "num_shards": num_shards, "shard_index": shard_index,
                     "skip_missing": skip_missing}
    centroids = centroids_path or root / semantic_subdir / "kmeans_centroids.npz"
    cluster_to_class = load_cluster_to_class(centroids)
    k = len(cluster_to_class)
    grid = sweep.build_grid(grad_thresholds, min_areas, cc_baseline, depth_blur_sigma, dilation_iters)
    if not grid:
        raise InputError("the grid is empty: give thresholds/areas or drop --no_cc_baseline.")
    protocols = tuple(protocols)
    if CUPS in protocols and num_shards > 1:
        raise InputError("the CUPS protocol matches pseudo-classes over the whole split, so a sharded sweep cannot "
                         "score it: run --protocol cups (or all) with --num_shards 1, or shard the other protocols.")
    needs_depth = any(c.uses_depth for c in grid)
    files = discover(root, split, semantic_subdir, depth_subdir, needs_depth, skip_missing)
    if max_images:
        files = files[:max_images]
    image_list = {"count": len(files), "sha256": sha256_of_lines(f.key for f in files)}  # what every shard must share
    files = run_shard(files, num_shards, shard_index)
    output = prepare_output_file(output or root / f"sweep_k{k}_spidepth_{split}.json",
                                 inputs=(root / "gtFine" / split, root / semantic_subdir / split,
                                         root / depth_subdir / split if needs_depth else None, centroids))
    workers = workers or default_workers()
    log.info("%d images, %d configurations, protocols %s, eval size %dx%d, %d workers",
             len(files), len(grid), "+".join(protocols), *eval_size, workers)
    manifest = RunManifest("sweep", arguments)
    params = sweep.SweepParams(tuple(grid), protocols, tuple(eval_size))
    sharded = num_shards > 1
    totals = sweep.run_sweep(files, cluster_to_class, params, workers=workers, keep_images=True)
    semantic_lines = sha256_lines([f.semantic for f in files], root)
    depth_lines = sha256_lines([f.depth for f in files], root) if needs_depth else []
    meta = {"split": split, "k": k, "eval_resolution": list(eval_size), "depth_subdir": depth_subdir,
            "semantic_subdir": semantic_subdir, "protocols": list(protocols),
            "grid": [[c.tau, c.min_area] for c in grid], "depth_blur_sigma": depth_blur_sigma,
            "dilation_iters": dilation_iters, "needs_depth": needs_depth, "num_shards": num_shards,
            "centroids": {"path": str(centroids), "sha256": sha256_file(centroids)}, "image_list": image_list,
            "sources": split_sources(root, split, semantic_subdir, depth_subdir if needs_depth else None)}
    if CUPS in protocols:
        meta["cups"] = cups_settings(root, split, thing_clusters(cluster_to_class), k, thing_stuff_threshold)
    manifest.add_inputs({"semantic": [f.semantic for f in files], "centroids": centroids}, root=root)
    if sharded:
        path = write_shard(shard_path(output, shard_index, num_shards), meta, shard_index, totals, semantic_lines,
                           depth_lines)
        manifest.write(path.parent, extra={"output": str(path)}, name=f"{path.stem}.manifest.json")
        return SweepRun(output, shard=path)
    inputs = {"semantic": {"count": len(files), "sha256": sha256_of_lines(semantic_lines)}, "centroids": meta["centroids"]}
    if needs_depth:
        inputs["depth"] = {"count": len(files), "sha256": sha256_of_lines(depth_lines)}
    record, image_stats = write_results(output, meta, grid, totals, inputs)
    timing = {"seconds": round(totals.seconds, 3), "workers": workers,
              "seconds_per_image": round(totals.seconds / max(totals.n_images, 1), 4)}
    manifest.write(output.parent, extra={"output": str(output), "timing": timing,
                                         "image_stats": {"path": str(image_stats), "sha256": sha256_file(image_stats)}},
                   name=f"{output.stem}.manifest.json")
    return SweepRun(output, record)
