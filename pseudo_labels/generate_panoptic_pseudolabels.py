"""Panoptic pseudo-labels in Cityscapes panoptic format (and as class*1000+instance arrays).

    python pseudo_labels/generate_panoptic_pseudolabels.py --cityscapes_root R --split val \\
        --semantic_subdir pseudo_semantic_raw_k80 --centroids_path R/pseudo_semantic_raw_k80/kmeans_centroids.npz

Per image: the semantics (trainIds, or raw clusters mapped by ``cluster_to_class``)
and the depth-guided instances at 512x1024 are assembled as the sweep's
reference protocol assembles a prediction (a stuff class is a segment from 64
px, instances painted in area order with >= 10 new px, uncovered thing pixels
void), upsampled (Pillow NEAREST) to ``--target_h x --target_w`` and written as

* ``{out}/{split}/{stem}_panoptic.png`` + ``{out}/{split}.json`` (COCO panoptic:
  RGB-encoded ids, ``category_id`` = Cityscapes labelId, ``iscrowd`` 0), which
  ``evaluation/evaluate_panoptic.py`` and cityscapesscripts read;
* ``{out}/{split}/{stem}_panoptic.npy``: int32 ``trainId * 1000 + n`` with
  ``n`` = 0 for stuff and 1, 2, ... for the instances of a class (painting
  order), -1 for void.

Reads no ground truth.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels import cityscapes as cs
from pseudo_labels import export
from pseudo_labels import panoptic as pan
from pseudo_labels.cityscapes_panoptic import write_predictions
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import sha256_optional, write_npy
from pseudo_labels.instances import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA
from pseudo_labels.manifest import RunManifest
from pseudo_labels.sweep import load_depth

log = logging.getLogger("panoptic")

VOID_VALUE = -1


def class_instance_array(segments: pan.Segments) -> np.ndarray:
    """int32 ``trainId * 1000 + n`` (n = 0 for stuff, 1.. per class for instances), -1 for void."""
    number = np.zeros(segments.count + 1, np.int64)
    for class_id in cs.THING_TRAIN_IDS:
        members = np.flatnonzero(segments.classes == class_id)
        number[members] = np.arange(1, len(members) + 1)
    values = segments.classes.astype(np.int64) * cs.INSTANCE_OFFSET + number
    values[0] = VOID_VALUE
    return values[segments.ids].astype(np.int32)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root")
    parser.add_argument("--split", default="val", help="split to label")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="semantic PNGs under the root")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz for raw cluster PNGs")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--cc_instances", action="store_true", help="connected components instead of depth cuts")
    parser.add_argument("--grad_threshold", type=float, default=0.20, help="tau (the evaluated best)")
    parser.add_argument("--min_area", type=int, default=1000, help="A_min in pixels at 512x1024")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    parser.add_argument("--depth_blur_sigma", type=float, default=DEFAULT_SIGMA, help="Gaussian blur before Sobel")
    parser.add_argument("--output_subdir", default="panoptic_pseudolabels", help="output folder under the root")
    parser.add_argument("--target_h", type=int, default=1024, help="output height")
    parser.add_argument("--target_w", type=int, default=2048, help="output width")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    semantic_files, depth_files, missing = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir,
                                                                     args.split, args.limit)
    keys = list(semantic_files)
    units = export.decide_units(int(cs.read_png(semantic_files[keys[0]]).max()), args.centroids_path, None,
                                str(semantic_files[keys[0]]))
    if missing and not args.cc_instances:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}; generate them or pass --cc_instances.")
    out = root / args.output_subdir / args.split
    target = (args.target_h, args.target_w)
    manifest = RunManifest("panoptic", args)
    manifest.claim(out, {"semantic_subdir": args.semantic_subdir, "centroids": sha256_optional(args.centroids_path),
                         "cc_instances": args.cc_instances, "grad_threshold": args.grad_threshold,
                         "min_area": args.min_area, "dilation_iters": args.dilation_iters,
                         "depth_blur_sigma": args.depth_blur_sigma, "target": list(target)}, args.overwrite)

    def labelled() -> Iterator[tuple[str, pan.Segments]]:
        for key in tqdm(keys, desc=f"panoptic {args.split}", unit="img"):
            semantic = units.unit_map(cs.resize_nearest(cs.read_png(semantic_files[key]), export.WORKING_SIZE),
                                      semantic_files[key])
            depth = None if args.cc_instances else load_depth(depth_files[key], export.WORKING_SIZE)
            found = export.split(semantic, units.things, depth, None if args.cc_instances else args.grad_threshold,
                                 args.min_area, args.dilation_iters, args.depth_blur_sigma)
            segments = pan.predicted_segments(semantic, found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
            segments = segments.resized(target)
            stem = key.split("/")[1]
            write_npy(out / f"{stem}_panoptic.npy", class_instance_array(segments))
            yield stem, segments

    write_predictions(out, root / args.output_subdir / f"{args.split}.json", labelled())
    manifest.write(out, extra={"images": len(keys)})
    log.info("wrote %d panoptic labels to %s", len(keys), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
