"""Depth-guided instances per image in the original tool's layout: ``{key}.npz`` masks + ``{key}_instance.png``.

:func:`write_instance_files` is the run behind ``pseudo-labels instances`` (and
``generate_depth_guided_instances.py``). For ``{semantic_dir}/{city}/{stem}.png``
and ``{depth_dir}/{city}/{stem}.npy`` it writes ``{output_dir}/{city}/{stem}.npz``
-- ``masks`` (N x H*W bool at 512x1024, overlaps kept as the algorithm makes
them, largest first), ``scores`` (area / largest area), ``num_valid``,
``h_patches``, ``w_patches`` as the original, plus ``classes`` (trainId or
cluster id per mask; merged thing clusters: the mask's majority cluster) and
``painted`` (the mask behind each PNG id) -- and ``{stem}_instance.png``
(uint16 ids 1..M), drawn as the original draws it or as the reference protocol
paints the instances. ``stats.json`` has the original's counts and no
wall-clock fields, so reruns are byte-identical.

What is split (:func:`choose_units`): each thing trainId of trainId maps, each
thing id of a ``stuff_things.json`` (the original's per-cluster split), all
thing clusters as one unit (``merge``, as the label-free exports do), or the
classes of a centroid file's ``cluster_to_class``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import RowStream, sha256_optional, write_json, write_npz, write_png
from pseudo_labels.core.manifest import RunManifest, RunOutputs
from pseudo_labels.core.parallel import default_workers, first_n, ordered_map, run_shard, shard_suffix
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import working_size
from pseudo_labels.evaluation.panoptic import THING_MIN_AREA
from pseudo_labels.formats.centroids import cluster_to_class
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.instances.painting import drawn_instance_map, instance_id_map
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.splitting import Instances, split
from pseudo_labels.instances.units import MERGED_THINGS, Units, centroids_beside, decide_units, largest_class_id

log = logging.getLogger("instances")  # the command's name: log lines read as they did when this lived in the command

INSTANCE_PNG_MODES = ("original", "evaluated")
"""``original``: mask i drawn as id i+1, later (smaller) masks over earlier ones; ``evaluated``: painted as the
reference protocol scores them (area order, >= 10 new pixels)."""


def per_cluster_units(stuff_things: Path, num_ids: int) -> Units:
    """Units that split each thing id of a ``stuff_things.json`` on its own (the original's way)."""
    things = read_stuff_things(stuff_things, num_ids)
    dtype = np.uint8 if num_ids <= 256 else np.uint16
    return Units(np.arange(num_ids, dtype=dtype), things, f"stuff_things (per cluster): {stuff_things}", num_ids - 1)


def choose_units(first_map: np.ndarray, first_path: Path, centroids_path: Path | None, stuff_things: Path | None,
                 merge: bool) -> Units:
    """What the split runs on (see the module docstring); wrong combinations are InputErrors.

    Raw cluster ids with neither ``centroids_path`` nor ``stuff_things`` stop:
    the original then split clusters 11..18 as if they were the thing trainIds.
    """
    if merge and stuff_things is None:
        raise InputError("--merge_thing_clusters needs --stuff_things (the thing clusters to merge).")
    if merge and first_map.dtype != np.uint8:
        raise InputError(f"{first_path}: a 16-bit cluster map (k > 255). --merge_thing_clusters merges the thing "
                         f"clusters into id {MERGED_THINGS}, so it needs 8-bit maps (k <= 255); split per "
                         f"cluster (without it) instead.")
    if stuff_things is not None and not merge:
        if centroids_path is not None:
            num_ids = len(cluster_to_class(centroids_path, require_classes=False))
        else:
            num_ids = 256 if first_map.dtype == np.uint8 else 65536
        return per_cluster_units(stuff_things, num_ids)
    if centroids_path is None and stuff_things is None and largest_class_id(first_map) >= cs.NUM_CLASSES:
        raise InputError(f"{first_path} holds id {largest_class_id(first_map)} > 18: raw cluster ids, not trainIds. Pass "
                         f"--centroids_path (split per class of its cluster_to_class) or --stuff_things (split per "
                         f"thing cluster). Without either the original split clusters 11..18 as if they were the "
                         f"thing trainIds, which names arbitrary clusters things.")
    return decide_units(first_map, centroids_path, stuff_things, str(first_path))


def instance_record(found: Instances, instance_ids_painted: np.ndarray) -> dict[str, np.ndarray]:
    """The ``.npz`` content for one image (the original layout plus ``classes`` and ``painted``).

    The (N, H*W) bool masks are streamed into the file, not stacked in memory.
    """
    height, width = found.shape
    masks = RowStream((len(found), height * width), np.dtype(bool), found.flat_masks)
    areas = found.areas.astype(np.float64)
    scores = (areas / areas.max()).astype(np.float32) if len(found) else np.zeros(0, np.float32)
    return {"masks": masks, "scores": scores, "num_valid": np.int64(len(found)), "h_patches": np.int64(height),
            "w_patches": np.int64(width),
            "classes": found.classes.astype(np.uint8 if found.classes.max(initial=0) < 256 else np.uint16),
            "painted": instance_ids_painted.astype(np.int64)}


@dataclass(frozen=True)
class ImageJob:
    """Everything one worker needs to write one image's instances."""

    key: str
    semantic: Path
    depth: Path
    output_dir: Path
    units: Units
    split: SplitSettings
    instance_png: str = "original"


def write_instances(job: ImageJob) -> np.ndarray:
    """Split one image, write its ``.npz`` and ``_instance.png``; returns the unit id of each instance."""
    semantic = job.units.read(job.semantic)
    size = working_size(*semantic.shape)  # 512x1024 for Cityscapes
    semantic = cs.resize_nearest(semantic, size)
    depth = load_depth(job.depth, size)
    found = split(job.units.unit_map(semantic, job.semantic), job.units.things, depth, job.split)
    found = job.units.named(found, semantic)
    if job.instance_png == "original":
        instance_map, painted = drawn_instance_map(found), np.arange(len(found))
    else:
        instance_map, painted = instance_id_map(found, THING_MIN_AREA)
    write_npz(job.output_dir / f"{job.key}.npz", instance_record(found, painted))
    write_png(job.output_dir / f"{job.key}_instance.png", instance_map)
    return found.classes


def write_instance_files(semantic_dir: Path, depth_dir: Path, output_dir: Path, split_settings: SplitSettings, *,
                         centroids_path: Path | None = None, stuff_things: Path | None = None,
                         merge_thing_clusters: bool = False, instance_png: str = "original",
                         limit: int | None = None, num_shards: int = 1, shard_index: int = 0,
                         workers: int | None = None, skip_missing: bool = False, overwrite: bool = False,
                         manifest: RunManifest | None = None) -> dict:
    """Write every image's instances and ``stats{suffix}.json`` (see the module doc); returns the stats.

    Every image needs its depth map: a missing one stops the run unless
    ``skip_missing`` leaves the image out (there is no silent fallback to
    connected components). ``manifest`` (the command line's, or one made here
    from these arguments) is claimed for ``output_dir`` and completed at the end.
    """
    if instance_png not in INSTANCE_PNG_MODES:
        raise ValueError(f"instance_png {instance_png!r} is not one of {INSTANCE_PNG_MODES}")
    semantic_files = cs.files_below(Path(semantic_dir), ".png", "semantic PNG", "Check --semantic_dir.")
    keys = first_n(semantic_files, limit)
    depth_files = {k: Path(depth_dir) / f"{k}.npy" for k in keys}
    missing = [str(p) for p in depth_files.values() if not p.is_file()]
    if missing and not skip_missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them or pass "
                         f"--skip_missing (there is no silent fallback to connected components).")
    run_keys = [k for k in keys if depth_files[k].is_file()]  # every shard's
    keys = run_shard(run_keys, num_shards, shard_index)
    if not keys:
        raise InputError(f"no semantic map under {semantic_dir} has a depth map under {depth_dir}.")
    first = read_label_png(semantic_files[keys[0]])
    found = None
    if centroids_path is None and stuff_things is None and not merge_thing_clusters and \
            largest_class_id(first) >= cs.NUM_CLASSES:  # raw cluster ids and no mapping given: the semantics stage's file
        found = centroids_beside(semantic_dir)
        if found is not None:
            log.info("%s holds raw cluster ids and no --centroids_path was given: using %s, where the semantics "
                     "stage writes the centroids (split per class of its cluster_to_class)", semantic_dir, found)
            centroids_path = found
    units = choose_units(first, semantic_files[keys[0]], centroids_path, stuff_things, merge_thing_clusters)
    config = {"grad_threshold": split_settings.tau, "min_area": split_settings.min_area,
              "dilation_iters": split_settings.dilation_iters, "depth_blur": split_settings.sigma}
    manifest = manifest or RunManifest("instances", {
        "semantic_dir": semantic_dir, "depth_dir": depth_dir, "output_dir": output_dir, **config,
        "centroids_path": centroids_path, "stuff_things": stuff_things, "merge_thing_clusters": merge_thing_clusters,
        "instance_png": instance_png, "limit": limit, "num_shards": num_shards, "shard_index": shard_index,
        "workers": workers, "skip_missing": skip_missing, "overwrite": overwrite})
    if found is not None:
        manifest.record["centroids_found_beside_semantics"] = str(found)
    suffix = shard_suffix(num_shards, shard_index)
    manifest.claim(output_dir, {
        **config, "centroids": sha256_optional(centroids_path), "stuff_things": sha256_optional(stuff_things),
        "merge_thing_clusters": merge_thing_clusters, "instance_png": instance_png},
        overwrite, name=f"manifest{suffix}.json", inputs=(semantic_dir, depth_dir, centroids_path, stuff_things),
        outputs=RunOutputs.of(("**/*.npz", "**/*_instance.png"),
                              [Path(output_dir) / f"{k}{end}" for k in run_keys for end in (".npz", "_instance.png")]))
    jobs = [ImageJob(key, semantic_files[key], depth_files[key], output_dir, units, split_settings, instance_png)
            for key in keys]
    per_image, per_unit = [], np.zeros(max(256, units.max_id + 1), np.int64)
    for classes in tqdm(ordered_map(write_instances, jobs, workers or default_workers()), total=len(jobs),
                        desc="instances", unit="img"):
        per_image.append(len(classes))
        per_unit += np.bincount(classes, minlength=len(per_unit))[: len(per_unit)]
    stats = {
        "total_images": len(keys), "skipped_missing_depth": len(missing), "total_instances": int(sum(per_image)),
        "avg_instances_per_image": round(sum(per_image) / len(per_image), 2),
        "max_instances_per_image": int(max(per_image)), "min_instances_per_image": int(min(per_image)),
        "per_class_counts": {cs.original_class_name(c): int(per_unit[c]) for c in sorted(units.thing_ids)},
        "per_unit_counts": {str(u): int(per_unit[u]) for u in np.flatnonzero(per_unit)}, "units": units.source,
        "config": {"grad_threshold": split_settings.tau, "min_area": split_settings.min_area,
                   "dilation_iters": split_settings.dilation_iters, "depth_blur_sigma": split_settings.sigma},
    }
    write_json(Path(output_dir) / f"stats{suffix}.json", stats)
    manifest.write(output_dir, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote instances of %d images to %s", len(keys), output_dir)
    return stats
