"""Export semantics + depth-guided instances as CUPS training pseudo-labels (one flat folder).

    python pseudo_labels/convert_to_cups_format.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz \\
        --depth_instances --grad_threshold 0.20 --min_instance_area 1000 --target_h 640 --target_w 1280

Per image ``{stem}_leftImg8bit_semantic.png`` (uint8 semantic ids as given),
``{stem}_leftImg8bit_instance.png`` (uint16, 0 = no instance) and
``{stem}_leftImg8bit.pt`` (per-class pixel counts, all pixels and inside
instances), the layout CUPS' pseudo-label loader reads. Instances are split at
512x1024 with the sweep's algorithm and settings, then upsampled (Pillow
NEAREST) to ``--target_h x --target_w``. Reads no ground truth.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pseudo_labels import cityscapes as cs
from pseudo_labels import export
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import sha256_optional, write_json, write_png, write_pt
from pseudo_labels.instances import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA
from pseudo_labels.manifest import RunManifest
from pseudo_labels.parallel import (add_shard_arguments, add_workers_argument, default_workers, ordered_map,
                                    run_shard, shard_suffix)
from pseudo_labels.sweep import load_depth

log = logging.getLogger("cups")

CUPS_8BIT_LIMIT = 255


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="semantic PNGs under the root")
    parser.add_argument("--split", default="train", help="split to export")
    parser.add_argument("--output_subdir", default="cups_pseudo_labels", help="flat output folder under the root")
    parser.add_argument("--num_classes", type=int, default=None,
                        help="classes of the .pt distributions (default: k of --centroids_path, or 19 for trainIds)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--depth_instances", action="store_true", help="depth-guided instances (the default)")
    mode.add_argument("--cc_instances", action="store_true", help="connected components only (no depth)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (cluster_to_class)")
    parser.add_argument("--stuff_things", type=Path, default=None, help="label-free stuff_things.json (thing cluster ids)")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--grad_threshold", type=float, default=0.20, help="tau (the evaluated best)")
    parser.add_argument("--min_instance_area", type=int, default=1000, help="A_min in pixels at 512x1024")
    parser.add_argument("--depth_blur_sigma", type=float, default=DEFAULT_SIGMA, help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    parser.add_argument("--target_h", type=int, default=1024, help="output height (CUPS default scale: 640)")
    parser.add_argument("--target_w", type=int, default=2048, help="output width (CUPS default scale: 1280)")
    parser.add_argument("--legacy_cluster_split", action="store_true",
                        help="the original exporter: split per raw thing cluster at the target size (min area in "
                             "target pixels, depth upsampled and min-max normalised); not what the sweep evaluates")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    parser.add_argument("--skip_missing", action="store_true", help="skip images without a depth map instead of stopping")
    return parser


def check_output_folder(folder: Path, stems: set[str]) -> None:
    """CUPS loads every file whose name contains '.pt': refuse a folder holding such files that are not ours."""
    if not folder.is_dir():
        return
    foreign = [p.name for p in folder.iterdir() if ".pt" in p.name and p.name.split("_leftImg8bit")[0] not in stems]
    if foreign:
        raise InputError(f"{folder}: holds {len(foreign)} unrelated file(s) with '.pt' in the name (e.g. {foreign[:3]}), "
                         f"which CUPS would load as labels. Use a new --output_subdir.")


@dataclass(frozen=True)
class ExportSettings:
    """What every image of one export shares."""

    output: Path
    units: export.Units
    legacy_things: tuple[int, ...] | None  # the thing clusters, with --legacy_cluster_split
    use_depth: bool
    grad_threshold: float
    min_instance_area: int
    dilation_iters: int
    depth_blur_sigma: float
    target: tuple[int, int]
    num_classes: int


def export_image(settings: ExportSettings, key: str, semantic_path: Path, depth_path: Path) -> int:
    """Write one image's semantic PNG, instance PNG and ``.pt`` distributions; returns its instance count."""
    semantic = cs.read_label_png(semantic_path, settings.units.max_id + 1)
    if semantic.dtype != np.uint8:
        raise InputError(f"{semantic_path}: expected a uint8 semantic PNG (CUPS reads 8-bit labels).")
    semantic_out = cs.resize_nearest(semantic, settings.target)
    threshold = settings.grad_threshold if settings.use_depth else None
    if settings.legacy_things is not None:
        settings.units.unit_map(semantic, semantic_path)  # checks the ids
        depth = load_depth(depth_path, settings.target) if settings.use_depth else None
        instance_out = export.legacy_instance_map(semantic_out, settings.legacy_things, depth, threshold,
                                                  settings.min_instance_area, settings.dilation_iters,
                                                  settings.depth_blur_sigma)
        kept = np.flatnonzero(np.bincount(instance_out.ravel())[1:])
    else:
        working = cs.resize_nearest(semantic, export.WORKING_SIZE)
        depth = load_depth(depth_path, export.WORKING_SIZE) if settings.use_depth else None
        found = export.split(settings.units.unit_map(working, semantic_path), settings.units.things, depth, threshold,
                             settings.min_instance_area, settings.dilation_iters, settings.depth_blur_sigma)
        instance_map, kept = export.instance_id_map(found)
        instance_out = cs.resize_nearest(instance_map, settings.target)
    if len(kept) > CUPS_8BIT_LIMIT:
        log.warning("%s: %d instances; CUPS reads instance PNGs through an 8-bit path", key, len(kept))
    stem = f"{key.split('/')[1]}_leftImg8bit"
    write_png(settings.output / f"{stem}_semantic.png", semantic_out)
    write_png(settings.output / f"{stem}_instance.png", instance_out)
    distributions = export.class_distributions(semantic_out, instance_out, settings.num_classes)
    write_pt(settings.output / f"{stem}.pt", {name: torch.from_numpy(v) for name, v in distributions.items()})
    return len(kept)


def _export_job(job: tuple[ExportSettings, str, Path, Path]) -> int:
    return export_image(*job)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    semantic_files, depth_files, missing = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir,
                                                                     args.split, args.limit)
    use_depth = not args.cc_instances
    missing = missing if use_depth else []
    if missing and not args.skip_missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them, pass "
                         f"--skip_missing to leave those images out, or --cc_instances to export without depth.")
    keys = run_shard([k for k in semantic_files if not use_depth or depth_files[k].is_file()], args)
    if not keys:
        raise InputError(f"shard {args.shard_index} of {args.num_shards} has no images.")
    first = cs.read_label_png(semantic_files[keys[0]])
    units = export.decide_units(int(first.max()), args.centroids_path, args.stuff_things, str(semantic_files[keys[0]]))
    num_classes = args.num_classes or (units.max_id + 1 if units.max_id < 255 else None)
    if num_classes is None:
        raise InputError("pass --num_classes (the number of cluster ids) with --stuff_things and no --centroids_path.")
    # legacy: the thing clusters themselves (those mapped to thing classes, or the label-free ones)
    legacy_things = (tuple(int(c) for c in np.flatnonzero(cs.IS_THING[units.lookup[: units.max_id + 1]]))
                     if units.source.startswith("cluster_to_class") else units.thing_ids)
    output = root / args.output_subdir
    check_output_folder(output, {k.split("/")[1] for k in semantic_files})  # any shard's images are ours
    manifest = RunManifest("cups", args)
    suffix = shard_suffix(args.num_shards, args.shard_index)
    manifest.claim(output, {
        "semantic_subdir": args.semantic_subdir, "mode": "cc" if args.cc_instances else "depth",
        "legacy_cluster_split": args.legacy_cluster_split, "grad_threshold": args.grad_threshold,
        "min_instance_area": args.min_instance_area, "depth_blur_sigma": args.depth_blur_sigma,
        "dilation_iters": args.dilation_iters, "target": [args.target_h, args.target_w], "num_classes": num_classes,
        "centroids": sha256_optional(args.centroids_path), "stuff_things": sha256_optional(args.stuff_things)},
        args.overwrite, name=f"manifest{suffix}.json")
    target = (args.target_h, args.target_w)
    settings = ExportSettings(output, units, legacy_things if args.legacy_cluster_split else None, use_depth,
                              args.grad_threshold, args.min_instance_area, args.dilation_iters, args.depth_blur_sigma,
                              target, num_classes)
    jobs = [(settings, key, semantic_files[key], depth_files[key]) for key in keys]
    counts = list(tqdm(ordered_map(_export_job, jobs, args.workers or default_workers()), total=len(jobs),
                       desc=f"cups {args.split}", unit="img"))
    crowded = sum(count > CUPS_8BIT_LIMIT for count in counts)
    write_json(output / f"stats{suffix}.json", {
        "images": len(keys), "skipped_missing_depth": len(missing), "instances": int(sum(counts)),
        "instances_per_image": round(float(np.mean(counts)), 4) if counts else 0.0,
        "images_over_255_instances": crowded, "units": units.source,
        "thing_units": list(units.thing_ids),
        "mode": ("legacy_" if args.legacy_cluster_split else "") + ("depth" if use_depth else "cc"), "grad_threshold": args.grad_threshold if use_depth else None,
        "min_instance_area": args.min_instance_area, "working_size": list(export.WORKING_SIZE),
        "target_size": list(target), "num_classes": num_classes,
    })
    manifest.write(output, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote %d images (%d instances) to %s", len(keys), sum(counts), output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
