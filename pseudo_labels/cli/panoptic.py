"""Panoptic pseudo-labels: the original's class*1000+instance maps, or Cityscapes panoptic format.

The original interface (its flags, files and ``stats.json``; see
:mod:`pseudo_labels.export.original_panoptic` for the assembly):

    python pseudo_labels/generate_panoptic_pseudolabels.py --semantic_dir R/pseudo_semantic_raw_k80/train \\
        --instance_dir R/pseudo_instance_depth/train --stuff_things R/pseudo_semantic_raw_k80/stuff_things.json \\
        --output_dir R/pseudo_panoptic/train

writes ``{output_dir}/{city}/{stem}.npy`` (int32 ``id * 1000 + n`` at the
semantic map's size, 0 unassigned), ``{stem}_panoptic.png`` (uint16 ``id * 256
+ n``) and ``stats.json``. Without ``--instance_dir`` the things are connected
components. A missing instance file stops the run unless ``--skip_missing``
(the original then used connected components silently).

The ``--cityscapes_root`` interface:

    python pseudo_labels/generate_panoptic_pseudolabels.py --cityscapes_root R --split val \\
        --semantic_subdir pseudo_semantic_raw_k80 --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz

Per image: the semantics (trainIds, or raw clusters mapped by ``cluster_to_class``)
and the depth-guided instances at 512x1024 are assembled as the sweep's
official protocol assembles its prediction (every stuff class present is a
segment, instances painted in area order where they add a new pixel, uncovered
thing pixels void; ``--min_stuff_area 64 --min_new_pixels 10`` gives the
reference protocol's prediction), upsampled (Pillow NEAREST) to ``--target_h x
--target_w`` and written as

* ``{out}/{split}/{stem}_panoptic.png`` + ``{out}/{split}.json`` (COCO panoptic:
  RGB-encoded ids, ``category_id`` = Cityscapes labelId, ``iscrowd`` 0), which
  ``evaluation/evaluate_panoptic.py`` and cityscapesscripts read;
* ``{out}/{split}/{stem}_panoptic.npy``: int32 ``trainId * 1000 + n`` with
  ``n`` = 0 for stuff and 1, 2, ... for the instances of a class (painting
  order), -1 for void.

``--workers`` spreads the images over processes. With ``--num_shards N
--shard_index i`` (job arrays) shard i labels every N-th image and writes
``{out}/{split}.shard-i-of-N.json``; ``generate_panoptic_pseudolabels.py merge
{out}/{split}.shard-*-of-N.json`` then writes the ``{split}.json`` a single run
writes, byte for byte. Reads no ground truth.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export import training as export
from pseudo_labels.export import original_panoptic
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export.cityscapes_panoptic import write_prediction_json, write_prediction_png
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import sha256_optional, write_json, write_npy, write_png
from pseudo_labels.cli.options import add_from_sweep_arguments, split_settings
from pseudo_labels.instances.settings import (DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, PUBLISHED_TAU,
                                              SplitSettings)
from pseudo_labels.instances.splitting import split
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import (add_shard_arguments, add_workers_argument, check_all_shards, default_workers,
                                    ordered_map, run_shard, shard_suffix, unsharded_path)
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.instance_npz import read_instance_masks
from pseudo_labels.formats.stuff_things import read_stuff_and_things

log = logging.getLogger("panoptic")

VOID_VALUE = -1


def class_instance_array(segments: pan.Segments, source: str = "image") -> np.ndarray:
    """int32 ``trainId * 1000 + n`` (n = 0 for stuff, 1.. per class for instances), -1 for void.

    n must stay below 1000, or the ids of one class run into the next
    class's: more instances of a class stop with an InputError naming ``source``.
    """
    number = np.zeros(segments.count + 1, np.int64)
    for class_id in cs.THING_TRAIN_IDS:
        members = np.flatnonzero(segments.classes == class_id)
        if len(members) >= cs.INSTANCE_OFFSET:
            raise InputError(f"{source}: {len(members)} instances of {cs.CLASS_NAMES[class_id]} do not fit the "
                             f"class*{cs.INSTANCE_OFFSET}+instance ids (at most {cs.INSTANCE_OFFSET - 1}). "
                             f"Raise --min_area.")
        number[members] = np.arange(1, len(members) + 1)
    values = segments.classes.astype(np.int64) * cs.INSTANCE_OFFSET + number
    values[0] = VOID_VALUE
    return values[segments.ids].astype(np.int32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    original = parser.add_argument_group("the original interface (class*1000+instance .npy per image)")
    original.add_argument("--semantic_dir", type=Path, default=None,
                          help="semantic PNGs of one split (any subfolders); selects the original interface")
    original.add_argument("--instance_dir", type=Path, default=None,
                          help="instance .npz files (same subfolders and stems); without it, connected components")
    original.add_argument("--stuff_things", type=Path, default=None, help="stuff_things.json (stuff_ids, thing_ids)")
    original.add_argument("--output_dir", type=Path, default=None, help="where {city}/{stem}.npy, _panoptic.png go")
    original.add_argument("--skip_missing", action="store_true",
                          help="an image without an instance file gets connected components (the original's way)")
    parser.add_argument("--cityscapes_root", type=Path, default=None,
                        help="Cityscapes root; selects the Cityscapes panoptic format")
    parser.add_argument("--split", default="val", help="split to label")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="semantic PNGs under the root")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz for raw cluster PNGs")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--cc_instances", action="store_true", help="connected components instead of depth cuts")
    parser.add_argument("--grad_threshold", type=float, default=PUBLISHED_TAU, help="tau (the evaluated best)")
    parser.add_argument("--min_area", type=int, default=PUBLISHED_MIN_AREA, help="A_min in pixels at 512x1024")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    parser.add_argument("--depth_blur_sigma", type=float, default=DEFAULT_SIGMA, help="Gaussian blur before Sobel")
    add_from_sweep_arguments(parser)
    parser.add_argument("--output_subdir", default="panoptic_pseudolabels", help="output folder under the root")
    parser.add_argument("--target_h", type=int, default=1024, help="output height")
    parser.add_argument("--target_w", type=int, default=2048, help="output width")
    parser.add_argument("--min_stuff_area", type=int, default=1,
                        help="smallest stuff segment in pixels at 512x1024 (1: the official protocol's prediction, "
                             f"{pan.STUFF_MIN_AREA}: the reference protocol's)")
    parser.add_argument("--min_new_pixels", type=int, default=1,
                        help="an instance is painted when it adds this many free pixels (1: official, "
                             f"{pan.THING_MIN_AREA}: reference)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    return parser


@dataclass(frozen=True)
class LabelSettings:
    """What every image of one run shares."""

    out: Path
    units: export.Units
    split: SplitSettings
    target: tuple[int, int]
    min_stuff_area: int = 1
    min_new_pixels: int = 1


def label_image(settings: LabelSettings, key: str, semantic_path: Path, depth_path: Path) -> dict:
    """Write one image's panoptic PNG and class*1000+instance array; returns its JSON annotation."""
    semantic = settings.units.unit_map(cs.resize_nearest(read_label_png(semantic_path, settings.units.max_id + 1),
                                                         cs.WORKING_SIZE),
                                       semantic_path)
    depth = load_depth(depth_path, cs.WORKING_SIZE) if settings.split.uses_depth else None
    found = split(semantic, settings.units.things, depth, settings.split)
    segments = pan.predicted_segments(semantic, found, settings.min_stuff_area,
                                     settings.min_new_pixels).resized(settings.target)
    stem = key.split("/")[1]
    write_npy(settings.out / f"{stem}_panoptic.npy", class_instance_array(segments, str(semantic_path)))
    return write_prediction_png(settings.out, stem, segments)


def _label_job(job: tuple[LabelSettings, str, Path, Path]) -> dict:
    return label_image(*job)




def run_original(args: argparse.Namespace) -> int:
    """``--semantic_dir`` mode: the original's per-image ``.npy``, ``_panoptic.png`` and ``stats.json``."""
    if args.stuff_things is None or args.output_dir is None:
        raise InputError("--semantic_dir needs --stuff_things and --output_dir (the original's required flags).")
    if not args.semantic_dir.is_dir():
        raise InputError(f"--semantic_dir {args.semantic_dir}: folder not found.")
    stuff, things = read_stuff_and_things(args.stuff_things)
    files = sorted(args.semantic_dir.rglob("*.png"))
    files = files[: args.limit] if args.limit else files
    if not files:
        raise InputError(f"no PNG under {args.semantic_dir}: pass the folder of one split's semantic maps.")
    relative = [f.relative_to(args.semantic_dir) for f in files]
    instance_files = ([args.instance_dir / r.parent / f"{r.stem}.npz" for r in relative]
                      if args.instance_dir is not None else [None] * len(files))
    missing = [str(p) for p in instance_files if p is not None and not p.is_file()]
    if missing and not args.skip_missing:
        raise InputError(f"{len(missing)} instance file(s) missing, e.g. {missing[:5]}. Run "
                         f"generate_depth_guided_instances.py for them, or pass --skip_missing (connected components).")
    out: Path = args.output_dir
    manifest = RunManifest("panoptic", args)
    manifest.claim(out, {"semantic_dir": str(args.semantic_dir), "instance_dir": str(args.instance_dir),
                         "stuff_things": sha256_optional(args.stuff_things)}, args.overwrite)
    per_image = []
    for path, rel, instance_path in tqdm(list(zip(files, relative, instance_files)), desc="panoptic", unit="img"):
        semantic = read_label_png(path)
        instances = None
        if instance_path is not None and instance_path.is_file():
            instances = read_instance_masks(instance_path, no_grid_is_empty=True)
        panoptic, segments = original_panoptic.panoptic_map(semantic, instances, stuff, things)
        write_npy(out / rel.parent / f"{rel.stem}.npy", panoptic)
        write_png(out / rel.parent / f"{rel.stem}_panoptic.png", original_panoptic.visualisation(panoptic, segments))
        per_image.append(segments)
    stats = original_panoptic.run_statistics(per_image, stuff, things)
    write_json(out / "stats.json", stats)
    manifest.write(out, extra={"images": len(files)})
    log.info("wrote %d panoptic maps to %s: %d segments (%d stuff + %d things)", len(files), out,
             stats["total_segments"], stats["total_stuff_segments"], stats["total_thing_segments"])
    return 0


@exit_on_input_error
def merge(argv: Sequence[str]) -> int:
    """``merge SHARD.json ... [--output JSON]``: the JSON a single run over all shards' images writes."""
    parser = argparse.ArgumentParser(prog=f"{Path(sys.argv[0]).name} merge", formatter_class=HelpFormatter,
                                     description="merge the JSON files of panoptic-label shards")
    parser.add_argument("shards", nargs="+", type=Path, help="the {split}.shard-i-of-n.json files")
    parser.add_argument("--output", type=Path, default=None, help="default: the shards' name without the shard suffix")
    args = parser.parse_args(argv)
    parts = []
    for path in args.shards:
        try:
            part = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as JSON ({exc}).") from None
        if not isinstance(part, dict) or not isinstance(part.get("shard"), dict) or "annotations" not in part:
            raise InputError(f"{path}: not a panoptic-label shard (no 'shard' entry); pass the "
                             f"{{split}}.shard-i-of-n.json files a sharded run wrote.")
        parts.append(part)
    shards = [part.pop("shard") for part in parts]
    if any(s["count"] != shards[0]["count"] or s["settings"] != shards[0]["settings"] for s in shards):
        raise InputError(f"the shards {[str(p) for p in args.shards]} come from different runs (settings or count).")
    check_all_shards([s["index"] for s in shards], shards[0]["count"])
    keyed = sorted((key, annotation) for part, s in zip(parts, shards)
                   for key, annotation in zip(s["keys"], part["annotations"]))
    output = args.output or unsharded_path(args.shards[0], ".json")
    write_prediction_json(output, [annotation for _, annotation in keyed])
    log.info("merged %d shards (%d images) into %s", len(parts), len(keyed), output)
    return 0


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.semantic_dir is None) == (args.cityscapes_root is None):
        parser.error("pass --semantic_dir with --stuff_things and --output_dir (the original interface) or "
                     "--cityscapes_root, not both")
    if args.semantic_dir is not None:
        return run_original(args)
    split_setting = split_settings(parser, argv, args, uses_depth=not args.cc_instances)
    root: Path = args.cityscapes_root
    semantic_files, depth_files, missing = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir,
                                                                     args.split, args.limit)
    if missing and split_setting.uses_depth:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}; generate them or pass --cc_instances.")
    keys = run_shard(list(semantic_files), args)
    if not keys:
        raise InputError(f"shard {args.shard_index} of {args.num_shards} has no images.")
    units = export.decide_units(int(read_label_png(semantic_files[keys[0]]).max()), args.centroids_path, None,
                                str(semantic_files[keys[0]]))
    out = root / args.output_subdir / args.split
    target = (args.target_h, args.target_w)
    suffix = shard_suffix(args.num_shards, args.shard_index)
    manifest = RunManifest("panoptic", args)
    settings = {"semantic_subdir": args.semantic_subdir, "centroids": sha256_optional(args.centroids_path),
                "cc_instances": not split_setting.uses_depth, "grad_threshold": args.grad_threshold, "min_area": args.min_area,
                "dilation_iters": args.dilation_iters, "depth_blur_sigma": args.depth_blur_sigma,
                "target": list(target), "min_stuff_area": args.min_stuff_area,
                "min_new_pixels": args.min_new_pixels}
    manifest.claim(out, settings, args.overwrite, name=f"manifest{suffix}.json")
    shared = LabelSettings(out, units, split_setting, target, args.min_stuff_area, args.min_new_pixels)
    jobs = [(shared, key, semantic_files[key], depth_files[key]) for key in keys]
    annotations = list(tqdm(ordered_map(_label_job, jobs, args.workers or default_workers()), total=len(jobs),
                            desc=f"panoptic {args.split}", unit="img"))
    json_path = root / args.output_subdir / f"{args.split}{suffix}.json"
    if suffix:
        write_prediction_json(json_path, annotations, shard={"index": args.shard_index, "count": args.num_shards,
                                                              "keys": keys, "settings": settings})
    else:
        write_prediction_json(json_path, annotations)
    manifest.write(out, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote %d panoptic labels to %s", len(keys), out)
    if suffix:
        log.info("when every shard is done: python pseudo_labels/generate_panoptic_pseudolabels.py merge %s",
                 root / args.output_subdir / f"{args.split}.shard-*-of-{args.num_shards}.json")
    return 0
