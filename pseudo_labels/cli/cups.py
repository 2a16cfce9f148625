"""Export semantics + instances as CUPS training pseudo-labels (one flat folder CUPS' loader reads).

    # the evaluated algorithm on raw k=80 clusters (depth-guided, tau 0.20, A_min 1000), for upstream CUPS
    python pseudo_labels/convert_to_cups_format.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --output_subdir cups_pseudo_labels_k80 --num_classes 80 \\
        --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz --depth_instances \\
        --depth_subdir depth_spidepth --grad_threshold 0.20 --min_instance_area 1000
    # the original's default mode: 27-class CAUSE maps + instance .npz files of generate_depth_guided_instances.py
    python pseudo_labels/convert_to_cups_format.py --cityscapes_root R --semantic_subdir pseudo_semantic_cause_crf \\
        --instance_subdir sweep_instances/gt0.10_ma500 --output_subdir cups_pseudo_labels --split train

Per image ``{stem}_leftImg8bit_semantic.png`` (uint8 pseudo-class ids),
``{stem}_leftImg8bit_instance.png`` (8-bit, 0 = no instance) and
``{stem}_leftImg8bit.pt`` (per-class pixel counts, all pixels and inside
instances, from the written PNGs). Every instance's pixels hold one semantic
id, its majority class, so CUPS (which names an instance by the largest id
under it) keeps it with that class. The default size is the image size x 0.625,
what upstream CUPS reads with its default ``DATA.SCALE``. ``stats.json``
records the ``DATA.THING_STUFF_THRESHOLD`` interval that gives CUPS the
intended thing classes. Reads no ground truth.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export import cups, training as export
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import sha256_optional, write_json, write_png, write_pt
from pseudo_labels.cli.options import SplitFlags, add_from_sweep_arguments, split_settings
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_TAU, SplitSettings
from pseudo_labels.instances.splitting import split
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import (add_shard_arguments, add_workers_argument, default_workers, ordered_map,
                                    run_shard, shard_suffix)
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.formats.instance_npz import instance_npz
from pseudo_labels.formats.centroids import thing_clusters
from pseudo_labels.formats.instance_npz import read_instance_masks

log = logging.getLogger("cups")

"""Pseudo-classes of the original's default input (CAUSE's 27 classes) and its --num_classes default."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_cause_crf", help="semantic PNGs under the root")
    parser.add_argument("--instance_subdir", default="sweep_instances/gt0.10_ma500",
                        help="instance .npz files under the root (generate_depth_guided_instances.py), read in the "
                             "default mode, i.e. without --depth_instances / --cc_instances")
    parser.add_argument("--output_subdir", default="cups_pseudo_labels", help="flat output folder under the root")
    parser.add_argument("--split", default="train", choices=["train", "val"], help="split to export")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things JSON: in the default mode its trainId thing_ids (mapped to CAUSE ids); with "
                             "--depth_instances / --cc_instances the label-free thing clusters")
    parser.add_argument("--trainid_input", action="store_true",
                        help="the semantic maps hold 19-class trainIds; they are written as the 27 CAUSE ids")
    parser.add_argument("--target_h", type=int, default=None,
                        help="output height (default: image height x 0.625, upstream CUPS' DATA.SCALE; "
                             "1024 for the original repo's CUPS copy)")
    parser.add_argument("--target_w", type=int, default=None, help="output width (default: image width x 0.625)")
    parser.add_argument("--num_classes", type=int, default=None,
                        help="pseudo-classes of the .pt distributions (default: k of --centroids_path for raw "
                             "clusters, 19 for trainIds written as such, else 27 as in the original)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--cc_instances", action="store_true", help="connected components of the thing classes")
    mode.add_argument("--depth_instances", action="store_true",
                      help="depth-guided instances (the sweep's algorithm at 512x1024)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (cluster_to_class)")
    parser.add_argument("--min_instance_area", type=int, default=100,
                        help="A_min in pixels at 512x1024 (the published best is 1000)")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--grad_threshold", type=float, default=PUBLISHED_TAU, help="tau (the evaluated best)")
    parser.add_argument("--depth_blur_sigma", type=float, default=DEFAULT_SIGMA, help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    add_from_sweep_arguments(parser)
    parser.add_argument("--use_trainid_things", action="store_true",
                        help="the semantic maps are trainIds and their things are trainIds 11..18 (no centroids)")
    parser.add_argument("--legacy_cluster_split", action="store_true",
                        help="the original exporter: split per raw thing cluster at the target size (min area in "
                             "target pixels, depth upsampled and min-max normalised); not what the sweep evaluates")
    parser.add_argument("--instance_png_bits", type=int, choices=[8, 16], default=8,
                        help="16: write images with more than 255 instances as 16-bit PNGs (CUPS' pinned "
                             "torchvision cannot read them) instead of stopping")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    parser.add_argument("--skip_missing", action="store_true",
                        help="skip images without a depth map / instance file instead of stopping")
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
    """What every image of one export shares.

    ``mode``: "npz" (instance files), "depth" or "cc" (the evaluated split),
    "legacy" (the original exporter's per-cluster split). ``units``: how the
    split reads the semantic ids (not used for "npz"). ``things``: the thing
    pseudo-classes in the written ids (``read_things``: in the ids read). ``output_ids``: (256,) lookup from the
    input ids to the written ids (trainIds -> CAUSE ids with --trainid_input).
    """

    output: Path
    mode: str
    units: export.Units
    things: tuple[int, ...]
    read_things: tuple[int, ...]
    num_ids: int
    allow_ignore: bool
    output_ids: np.ndarray | None
    split: SplitSettings
    target: tuple[int, int]
    num_classes: int
    png_bits: int


def read_semantic(settings: ExportSettings, path: Path) -> np.ndarray:
    """The semantic map, every id checked at full resolution (the pre-pass and the export call this)."""
    semantic = read_label_png(path, settings.num_ids, settings.allow_ignore)
    if semantic.dtype != np.uint8:
        raise InputError(f"{path}: a 16-bit semantic map; CUPS reads 8-bit pseudo-classes (k <= 255).")
    return semantic


def _check_semantic_job(job: tuple[ExportSettings, Path]) -> tuple[int, int]:
    return read_semantic(*job).shape


def npz_instances(path: Path, semantic: np.ndarray, things: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The original's default mode: an instance map from a ``.npz`` of masks, and each instance's class.

    Masks in descending score order; a mask is kept when the majority id of the
    semantic map (at the masks' size) under it is a thing, and it takes the
    pixels no earlier mask took. Returns the uint16 map (ids 1..N) at the masks'
    size and the (N+1,) class of each id.
    """
    found = read_instance_masks(path, require=("scores", "num_valid", "h_patches", "w_patches"))
    masks, scores = found.masks, found.scores
    height, width = masks.shape[1:]
    labels = cs.resize_nearest(semantic, (height, width))
    instance_map = np.zeros((height, width), np.uint16)
    classes = [0]
    thing_set = set(things)
    for index in np.argsort(-scores):
        values = labels[masks[index]]
        if not values.size:
            continue
        majority = int(np.bincount(values).argmax())
        fresh = masks[index] & (instance_map == 0)
        if majority in thing_set and fresh.any():
            if len(classes) > export.MAX_INSTANCES:
                raise InputError(f"{path}: more than {export.MAX_INSTANCES} instances; raise the minimum area.")
            instance_map[fresh] = len(classes)
            classes.append(majority)
    return instance_map, np.array(classes, np.uint16)


def split_instances(settings: ExportSettings, semantic: np.ndarray, path: Path, depth_path: Path
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The evaluated algorithm at 512x1024 (or the legacy split at the target size) and each instance's class."""
    if settings.mode == "legacy":
        settings.units.unit_map(semantic, path)  # checks the ids
        labels = cs.resize_nearest(semantic, settings.target)
        depth = load_depth(depth_path, settings.target) if settings.split.uses_depth else None
        instance_map = export.legacy_instance_map(labels, settings.read_things, depth, settings.split)
    else:
        labels = cs.resize_nearest(semantic, cs.WORKING_SIZE)
        depth = load_depth(depth_path, cs.WORKING_SIZE) if settings.split.uses_depth else None
        found = split(settings.units.unit_map(labels, path), settings.units.things, depth, settings.split)
        instance_map, _ = export.instance_id_map(found)
    return instance_map, export.instance_classes(instance_map, labels, settings.units.max_id + 1)


def instance_png(instance_map: np.ndarray, bits: int, key: str) -> np.ndarray:
    """The instance map as CUPS can read it: 8-bit when it fits, else an error unless 16 bits are allowed."""
    largest = int(instance_map.max()) if instance_map.size else 0
    if largest <= cups.PNG_8BIT_LIMIT:
        return instance_map.astype(np.uint8)
    if bits == 8:
        raise InputError(f"{key}: {largest} instances do not fit an 8-bit instance PNG, the only kind CUPS' pinned "
                         f"torchvision (0.16) reads. Raise --min_instance_area, or pass --instance_png_bits 16 for a "
                         f"CUPS with torchvision >= 0.20.")
    log.warning("%s: %d instances, written as a 16-bit PNG that CUPS' pinned torchvision cannot read", key, largest)
    return instance_map


def export_image(settings: ExportSettings, key: str, semantic_path: Path, aux_path: Path) -> int:
    """Write one image's semantic PNG, instance PNG and ``.pt`` distributions; returns its instance count."""
    semantic = read_semantic(settings, semantic_path)
    semantic_out = cs.resize_nearest(semantic, settings.target)
    if settings.mode == "npz":
        if settings.output_ids is not None:
            semantic_out = settings.output_ids[semantic_out]
        instance_map, classes = npz_instances(aux_path, semantic_out, settings.things)
    else:
        instance_map, classes = split_instances(settings, semantic, semantic_path, aux_path)
        if settings.output_ids is not None:
            semantic_out, classes = settings.output_ids[semantic_out], settings.output_ids[classes]
    instance_out = cs.resize_nearest(instance_map, settings.target)
    semantic_out = export.paint_instance_classes(semantic_out, instance_out, classes)
    instance_out = instance_png(instance_out, settings.png_bits, key)
    stem = f"{key.split('/')[1]}_leftImg8bit"
    write_png(settings.output / f"{stem}_semantic.png", semantic_out)
    write_png(settings.output / f"{stem}_instance.png", instance_out)
    distributions = export.class_distributions(semantic_out, instance_out, settings.num_classes)
    write_pt(settings.output / f"{stem}.pt", {name: torch.from_numpy(v) for name, v in distributions.items()})
    return int(np.count_nonzero(np.bincount(instance_out.ravel())[1:]))


def _export_job(job: tuple[ExportSettings, str, Path, Path]) -> int:
    return export_image(*job)


def image_size(root: Path, split: str, key: str, semantic: tuple[int, int]) -> tuple[int, int]:
    """The Cityscapes image's (H, W), read from the header; the semantic map's size when the image is absent."""
    city, stem = key.split("/")
    path = root / "leftImg8bit" / split / city / f"{stem}{cs.IMAGE_SUFFIX}"
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except OSError:
        log.info("no image at %s: taking the semantic map's size %dx%d as the image size", path, *semantic)
        return semantic


def _as_cause27(train_ids: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted({int(cs.TRAIN_ID_TO_CAUSE27[t]) for t in train_ids} - {cs.IGNORE_ID}))


def thing_classes(args: argparse.Namespace, units: export.Units | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The thing pseudo-classes, in the ids read and in the ids written (which differ with --trainid_input).

    ``units`` None is the original's default mode, where its rules apply: the
    27 CAUSE thing classes, or a stuff_things file's trainIds as CAUSE ids, or
    trainIds 11..18 with --use_trainid_things.
    """
    if units is None:
        if args.use_trainid_things:
            return cs.THING_TRAIN_IDS, (_as_cause27(cs.THING_TRAIN_IDS) if args.trainid_input else cs.THING_TRAIN_IDS)
        if args.stuff_things is not None:
            things = _as_cause27(read_stuff_things(args.stuff_things, cs.NUM_CLASSES))
            return things, things
        return cs.CAUSE27_THING_IDS, cs.CAUSE27_THING_IDS
    if units.merged:
        read = units.thing_clusters
    elif units.source.startswith("cluster_to_class"):
        read = thing_clusters(units.lookup[: units.max_id + 1])
    else:
        read = cs.THING_TRAIN_IDS
    return read, (_as_cause27(read) if args.trainid_input else read)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    root: Path = args.cityscapes_root
    mode = "legacy" if args.legacy_cluster_split else "depth" if args.depth_instances else \
        "cc" if args.cc_instances else "npz"
    use_depth = mode in ("depth", "legacy") and not args.cc_instances
    split_setting = split_settings(parser, argv, args, SplitFlags(min_area="min_instance_area"), use_depth)
    if args.from_sweep is not None and mode == "npz":
        raise InputError("--from_sweep sets how instances are split: add --depth_instances.")
    if mode == "depth" and not split_setting.uses_depth:
        mode = "cc"  # the sweep's best was the connected-component baseline
    use_depth = split_setting.uses_depth
    semantic_files, depth_files, _ = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir,
                                                               args.split, args.limit)
    if mode == "npz":
        instances = root / args.instance_subdir
        aux = {k: instance_npz(instances, args.split, k) or cs.output_path(instances, args.split, k, ".npz")
               for k in semantic_files}
        what, fix = "instance file", "Run generate_depth_guided_instances.py, or pass --depth_instances"
    else:
        aux = depth_files
        what, fix = "depth map", "Generate them, or pass --cc_instances to export without depth"
    missing = [str(p) for p in aux.values() if not p.is_file()] if mode == "npz" or use_depth else []
    if missing and not args.skip_missing:
        raise InputError(f"{len(missing)} {what}(s) missing, e.g. {missing[:5]}. {fix}, or --skip_missing to leave "
                         f"those images out.")
    keys = run_shard([k for k in semantic_files if not missing or aux[k].is_file()], args)
    if not keys:
        raise InputError(f"shard {args.shard_index} of {args.num_shards} has no images.")
    first = read_label_png(semantic_files[keys[0]])

    train_ids = args.use_trainid_things or args.trainid_input
    if mode == "npz":
        units = None
        num_ids = cs.NUM_CLASSES if args.trainid_input else (args.num_classes or cs.NUM_CAUSE27)
        if args.use_trainid_things and not args.trainid_input:
            num_ids = args.num_classes or cs.NUM_CLASSES
    else:
        if args.centroids_path is not None and args.num_classes == cs.NUM_CLASSES and not train_ids:
            log.info("--num_classes 19 with --centroids_path: the maps are taken as trainIds (the output of "
                     "remap_raw_clusters_to_trainid.py), things = trainIds 11..18")
            train_ids = True
        units = (export.train_id_units(allows_ignore=True) if train_ids
                 else export.decide_units(int(first.max()), args.centroids_path, args.stuff_things,
                                          str(semantic_files[keys[0]])))
        num_ids = units.max_id + 1
    read_things, things = thing_classes(args, units)
    output_ids = cs.TRAIN_ID_TO_CAUSE27 if args.trainid_input else None
    if args.num_classes:
        num_classes = args.num_classes
    elif args.trainid_input:
        num_classes = cs.NUM_CAUSE27
    elif units is None:
        num_classes = num_ids
    elif units.max_id < 255:
        num_classes = units.max_id + 1
    else:
        raise InputError("pass --num_classes (the number of cluster ids) with --stuff_things and no --centroids_path.")
    if any(t >= num_classes for t in things):
        raise InputError(f"thing classes {[t for t in things if t >= num_classes]} are not below --num_classes "
                         f"{num_classes}; pass the number of pseudo-classes of the semantic maps.")

    size = image_size(root, args.split, keys[0], first.shape)
    if (args.target_h is None) != (args.target_w is None):
        raise InputError("pass both --target_h and --target_w, or neither (image size x 0.625).")
    target = (args.target_h, args.target_w) if args.target_h else \
        (round(size[0] * cups.DEFAULT_SCALE), round(size[1] * cups.DEFAULT_SCALE))
    scale = cups.label_scale(size, target)
    settings = ExportSettings(root / args.output_subdir, mode, units or export.train_id_units(), things,
                              read_things, num_ids, train_ids, output_ids, split_setting, target, num_classes,
                              args.instance_png_bits)
    workers = args.workers or default_workers()
    log.info("checking %d semantic maps (ids < %d at full resolution)", len(keys), num_ids)
    for key, shape in zip(keys, ordered_map(_check_semantic_job, [(settings, semantic_files[k]) for k in keys], workers)):
        if shape != first.shape:
            raise InputError(f"{semantic_files[key]}: {shape[0]}x{shape[1]}, where {semantic_files[keys[0]]} is "
                             f"{first.shape[0]}x{first.shape[1]}; all maps of a split must have one size.")

    output = settings.output
    check_output_folder(output, {k.split("/")[1] for k in semantic_files})  # any shard's images are ours
    manifest = RunManifest("cups", args)
    suffix = shard_suffix(args.num_shards, args.shard_index)
    manifest.claim(output, {
        "semantic_subdir": args.semantic_subdir, "mode": mode, "use_depth": use_depth,
        "instance_subdir": args.instance_subdir if mode == "npz" else None, "grad_threshold": args.grad_threshold,
        "min_instance_area": args.min_instance_area, "depth_blur_sigma": args.depth_blur_sigma,
        "dilation_iters": args.dilation_iters, "target": list(target), "num_classes": num_classes,
        "trainid_input": args.trainid_input, "use_trainid_things": args.use_trainid_things,
        "instance_png_bits": args.instance_png_bits,
        "centroids": sha256_optional(args.centroids_path), "stuff_things": sha256_optional(args.stuff_things)},
        args.overwrite, name=f"manifest{suffix}.json")
    jobs = [(settings, key, semantic_files[key], aux[key]) for key in keys]
    counts = list(tqdm(ordered_map(_export_job, jobs, workers), total=len(jobs), desc=f"cups {args.split}", unit="img"))

    inside, everywhere, pt_files = cups.read_distributions(output)
    interval = cups.threshold_interval(inside, everywhere, things)
    write_json(output / f"stats{suffix}.json", {
        "images": len(keys), "skipped_missing": len(missing), "instances": int(sum(counts)),
        "instances_per_image": round(float(np.mean(counts)), 4) if counts else 0.0,
        "images_over_255_instances": sum(count > cups.PNG_8BIT_LIMIT for count in counts),
        "units": "instance files" if units is None else units.source, "thing_classes": list(things),
        "mode": mode if mode != "legacy" else "legacy_" + ("depth" if use_depth else "cc"),
        "grad_threshold": args.grad_threshold if use_depth else None,
        "min_instance_area": args.min_instance_area, "working_size": list(cs.WORKING_SIZE),
        "target_size": list(target), "cups_data_scale": scale, "num_classes": num_classes,
        "pt_files_in_folder": pt_files, "cups_thing_stuff_threshold": interval.as_json(),
    })
    manifest.write(output, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote %d images (%d instances) at %dx%d to %s", len(keys), sum(counts), *target, output)
    report_threshold(interval, root, output, scale)
    return 0


def report_threshold(interval: cups.ThresholdInterval, root: Path, output: Path, scale: float) -> None:
    """Log the thing/stuff threshold interval and the CUPS command to paste."""
    if interval.unreachable:
        log.warning("thing classes %s have no pixel inside any instance: CUPS will train them as stuff",
                    list(interval.unreachable))
    if interval.suggested is None:
        log.warning("no DATA.THING_STUFF_THRESHOLD gives CUPS exactly the thing classes %s (stuff classes %s rank "
                    "above some of them); CUPS will mix things and stuff", list(interval.things),
                    list(interval.outranked_by))
    else:
        log.info("CUPS reads the %d intended thing classes for DATA.THING_STUFF_THRESHOLD in [%.6g, %.6g)",
                 len(interval.things), interval.low, interval.high)
    print(cups.train_command(root, output, interval.suggested, scale))
