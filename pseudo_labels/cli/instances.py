"""Depth-guided instances per image, in the original tool's layout (``.npz`` masks + ``_instance.png``).

    python pseudo_labels/generate_depth_guided_instances.py --semantic_dir R/pseudo_semantic_raw_k80/train \\
        --depth_dir R/depth_spidepth/train --output_dir R/instances_k80/train \\
        --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz --grad_threshold 0.20 --min_area 1000

The defaults (tau 0.05, A_min 100) are the original script's; the sweep's best
is tau 0.20, A_min 1000. What is split, as in the original: each thing trainId
of trainId maps (11..18), or each thing id of ``--stuff_things`` (the
original's per-cluster split; ``--merge_thing_clusters`` splits all thing
clusters as one unit instead, as the label-free exports do); raw cluster maps
take ``--centroids_path`` (split per class of ``cluster_to_class``). Raw
cluster ids with neither flag stop (exit 2): the original then split clusters
11..18 as if they were the thing trainIds.

For ``{semantic_dir}/{city}/{stem}.png`` and ``{depth_dir}/{city}/{stem}.npy``
it writes ``{output_dir}/{city}/{stem}.npz`` -- ``masks`` (N x H*W bool at
512x1024, overlaps kept as the algorithm makes them, largest first),
``scores`` (area / largest area), ``num_valid``, ``h_patches``, ``w_patches``
as the original, plus ``classes`` (trainId or cluster id per mask; with
``--merge_thing_clusters`` the mask's majority cluster) and ``painted`` (the
mask behind each PNG id) -- and ``{stem}_instance.png`` (uint16 ids 1..M):
by default as the original draws it (mask i is id i+1, smaller masks drawn
over larger ones), with ``--instance_png evaluated`` as the sweep's reference
protocol paints the instances. ``stats.json`` has the original's counts and no
wall-clock fields, so reruns are byte-identical. Reads no ground truth.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export import training as export
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import RowStream, sha256_optional, write_json, write_npz, write_png
from pseudo_labels.cli.options import SplitFlags, add_from_sweep_arguments, split_settings
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, SplitSettings
from pseudo_labels.instances.splitting import Instances, split
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import (add_shard_arguments, add_workers_argument, default_workers, ordered_map,
                                    run_shard, shard_suffix)
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.centroids import cluster_to_class
from pseudo_labels.formats.stuff_things import read_stuff_things

log = logging.getLogger("instances")

INSTANCE_PNG_MODES = ("original", "evaluated")


def original_instance_map(found: Instances) -> np.ndarray:
    """uint16 map as the original draws it: mask i (area order) is id i+1, a later mask wins an overlap."""
    if len(found) > export.MAX_INSTANCES:
        raise InputError(f"{len(found)} instances do not fit a uint16 instance map (at most "
                         f"{export.MAX_INSTANCES}); raise --min_area.")
    last = np.maximum(found.first, found.second)
    flat = np.zeros(found.shape[0] * found.shape[1], np.uint16)
    flat[found.pixels] = np.where(last >= 0, last + 1, 0)
    return flat.reshape(found.shape)


def per_cluster_units(stuff_things: Path, num_ids: int) -> export.Units:
    """Units that split each thing id of a ``stuff_things.json`` on its own (the original's way)."""
    things = read_stuff_things(stuff_things, num_ids)
    dtype = np.uint8 if num_ids <= 256 else np.uint16
    return export.Units(np.arange(num_ids, dtype=dtype), things, f"stuff_things (per cluster): {stuff_things}",
                        num_ids - 1)


def choose_units(first_map: np.ndarray, first_path: Path, centroids_path: Path | None, stuff_things: Path | None,
                 merge: bool) -> export.Units:
    """What the split runs on (see the module docstring); wrong combinations are InputErrors."""
    if merge and stuff_things is None:
        raise InputError("--merge_thing_clusters needs --stuff_things (the thing clusters to merge).")
    if merge and first_map.dtype != np.uint8:
        raise InputError(f"{first_path}: a 16-bit cluster map (k > 255). --merge_thing_clusters merges the thing "
                         f"clusters into id {export.MERGED_THINGS}, so it needs 8-bit maps (k <= 255); split per "
                         f"cluster (without it) instead.")
    if stuff_things is not None and not merge:
        if centroids_path is not None:
            num_ids = len(cluster_to_class(centroids_path, require_classes=False))
        else:
            num_ids = 256 if first_map.dtype == np.uint8 else 65536
        return per_cluster_units(stuff_things, num_ids)
    if centroids_path is None and stuff_things is None and int(first_map.max()) >= cs.NUM_CLASSES:
        raise InputError(f"{first_path} holds id {int(first_map.max())} > 18: raw cluster ids, not trainIds. Pass "
                         f"--centroids_path (split per class of its cluster_to_class) or --stuff_things (split per "
                         f"thing cluster). Without either the original split clusters 11..18 as if they were the "
                         f"thing trainIds, which names arbitrary clusters things.")
    return export.decide_units(int(first_map.max()), centroids_path, stuff_things, str(first_path))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--semantic_dir", required=True, type=Path, help="{city}/{stem}.png semantic maps of one split")
    parser.add_argument("--depth_dir", required=True, type=Path, help="{city}/{stem}.npy depth maps of the same split")
    parser.add_argument("--output_dir", required=True, type=Path, help="where {city}/{stem}.npz and _instance.png go")
    parser.add_argument("--grad_threshold", type=float, default=0.05,
                        help="tau: depth-gradient threshold (the original's default; the evaluated best is 0.20)")
    parser.add_argument("--min_area", type=int, default=100,
                        help="A_min in pixels at 512x1024 (the original's default; the evaluated best is 1000)")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    parser.add_argument("--depth_blur", type=float, default=DEFAULT_SIGMA, help="Gaussian blur sigma before Sobel")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things.json: split each of its thing_ids (cluster ids or trainIds) separately")
    parser.add_argument("--merge_thing_clusters", action="store_true",
                        help="with --stuff_things: split all thing clusters as one unit (depth edges alone separate "
                             "instances; each is named by its majority cluster)")
    parser.add_argument("--instance_png", choices=INSTANCE_PNG_MODES, default="original",
                        help="original: mask i drawn as id i+1, later (smaller) masks over earlier ones; evaluated: "
                             "painted as the reference protocol scores them (area order, >= 10 new pixels)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (cluster_to_class)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    add_from_sweep_arguments(parser)
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    parser.add_argument("--skip_missing", action="store_true", help="skip images without a depth map instead of stopping")
    return parser


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
    units: export.Units
    split: SplitSettings
    instance_png: str = "original"


def write_instances(job: ImageJob) -> np.ndarray:
    """Split one image, write its ``.npz`` and ``_instance.png``; returns the unit id of each instance."""
    semantic = cs.resize_nearest(read_label_png(job.semantic, job.units.max_id + 1), cs.WORKING_SIZE)
    depth = load_depth(job.depth, cs.WORKING_SIZE)
    found = split(job.units.unit_map(semantic, job.semantic), job.units.things, depth, job.split)
    found = job.units.named(found, semantic)
    if job.instance_png == "original":
        instance_map, painted = original_instance_map(found), np.arange(len(found))
    else:
        instance_map, painted = export.instance_id_map(found)
    write_npz(job.output_dir / f"{job.key}.npz", instance_record(found, painted))
    write_png(job.output_dir / f"{job.key}_instance.png", instance_map)
    return found.classes


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = split_settings(parser, argv, args, SplitFlags(sigma="depth_blur"))
    semantic_files = cs.scan_folder(args.semantic_dir, ".png", "semantic PNG")
    keys = list(semantic_files)[: args.limit] if args.limit else list(semantic_files)
    depth_files = {k: args.depth_dir / f"{k}.npy" for k in keys}
    missing = [str(p) for p in depth_files.values() if not p.is_file()]
    if missing and not args.skip_missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them or pass "
                         f"--skip_missing (there is no silent fallback to connected components).")
    keys = run_shard([k for k in keys if depth_files[k].is_file()], args)
    if not keys:
        raise InputError(f"no semantic map under {args.semantic_dir} has a depth map under {args.depth_dir}.")
    units = choose_units(read_label_png(semantic_files[keys[0]]), semantic_files[keys[0]], args.centroids_path,
                         args.stuff_things, args.merge_thing_clusters)
    manifest = RunManifest("instances", args)
    suffix = shard_suffix(args.num_shards, args.shard_index)
    manifest.claim(args.output_dir, {
        "grad_threshold": args.grad_threshold, "min_area": args.min_area, "dilation_iters": args.dilation_iters,
        "depth_blur": args.depth_blur, "centroids": sha256_optional(args.centroids_path),
        "stuff_things": sha256_optional(args.stuff_things), "merge_thing_clusters": args.merge_thing_clusters,
        "instance_png": args.instance_png}, args.overwrite, name=f"manifest{suffix}.json")
    jobs = [ImageJob(key, semantic_files[key], depth_files[key], args.output_dir, units, settings, args.instance_png)
            for key in keys]
    workers = args.workers or default_workers()
    per_image, per_unit = [], np.zeros(max(256, units.max_id + 1), np.int64)
    for classes in tqdm(ordered_map(write_instances, jobs, workers), total=len(jobs), desc="instances", unit="img"):
        per_image.append(len(classes))
        per_unit += np.bincount(classes, minlength=len(per_unit))[: len(per_unit)]
    write_json(args.output_dir / f"stats{shard_suffix(args.num_shards, args.shard_index)}.json", {
        "total_images": len(keys), "skipped_missing_depth": len(missing), "total_instances": int(sum(per_image)),
        "avg_instances_per_image": round(sum(per_image) / len(per_image), 2),
        "max_instances_per_image": int(max(per_image)), "min_instances_per_image": int(min(per_image)),
        "per_class_counts": {cs.original_class_name(c): int(per_unit[c]) for c in sorted(units.thing_ids)},
        "per_unit_counts": {str(u): int(per_unit[u]) for u in np.flatnonzero(per_unit)}, "units": units.source,
        "config": {"grad_threshold": args.grad_threshold, "min_area": args.min_area,
                   "dilation_iters": args.dilation_iters, "depth_blur_sigma": args.depth_blur},
    })
    manifest.write(args.output_dir, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote instances of %d images to %s", len(keys), args.output_dir)
    return 0
