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
import sys
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_shard_arguments, add_workers_argument
from pseudo_labels.cli.options import (FIRST_N_OR_ALL, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, merge_parser,
                                       add_from_sweep_arguments, add_layout_arguments, explicitly_given,
                                       frame_source, split_settings)
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export.panoptic_export import (DEFAULT_OUTPUT_SUBDIR, merge_shards, write_original_panoptic,
                                                  write_panoptic_split)
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, PUBLISHED_TAU


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    original = parser.add_argument_group("the original interface (class*1000+instance .npy per image)")
    original.add_argument("--semantic_dir", type=Path, default=None,
                          help="semantic PNGs of one split (any subfolders); selects the original interface")
    original.add_argument("--instance_dir", type=Path, default=None,
                          help="instance .npz files (same subfolders and stems); without it, connected components")
    original.add_argument("--stuff_things", type=Path, default=None,
                          help="stuff_things.json (stuff_ids, thing_ids); with --cityscapes_root (new): label-free "
                               "clusters, each written as its own category (cluster + 1)")
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
    parser.add_argument("--grad_threshold", type=NON_NEGATIVE, default=PUBLISHED_TAU, help="tau (the evaluated best)")
    parser.add_argument("--min_area", type=NON_NEGATIVE_INT, default=PUBLISHED_MIN_AREA,
                        help="A_min in pixels at 512x1024")
    parser.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                        help="reclaim dilation steps")
    parser.add_argument("--depth_blur_sigma", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                        help="Gaussian blur before Sobel")
    add_from_sweep_arguments(parser)
    parser.add_argument("--output_subdir", default=DEFAULT_OUTPUT_SUBDIR, help="output folder under the root")
    parser.add_argument("--target_h", type=POSITIVE_INT, default=1024, help="output height")
    parser.add_argument("--target_w", type=POSITIVE_INT, default=2048, help="output width")
    parser.add_argument("--min_stuff_area", type=NON_NEGATIVE_INT, default=1,
                        help="smallest stuff segment in pixels at 512x1024 (1: the official protocol's prediction, "
                             f"{pan.STUFF_MIN_AREA}: the reference protocol's)")
    parser.add_argument("--min_new_pixels", type=NON_NEGATIVE_INT, default=1,
                        help="an instance is painted when it adds this many free pixels (1: official, "
                             f"{pan.THING_MIN_AREA}: reference)")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=None, help="only the first N images")
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    add_layout_arguments(parser, "other than Cityscapes, each frame is written at its own size unless --target_h/"
                                 "--target_w are given, and the JSON lists the images (COCO 'images')")
    return parser


@exit_on_input_error
def merge(argv: Sequence[str]) -> int:
    """``merge SHARD.json ... [--output JSON]``: the JSON a single run over all shards' images writes."""
    args = merge_parser("the JSON files of panoptic-label shards", "{split}.shard-i-of-n.json").parse_args(argv)
    merge_shards(args.shards, args.output)
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
        if args.stuff_things is None or args.output_dir is None:
            raise InputError("--semantic_dir needs --stuff_things and --output_dir (the original's required flags).")
        write_original_panoptic(args.semantic_dir, args.stuff_things, args.output_dir, instance_dir=args.instance_dir,
                                limit=args.limit, skip_missing=args.skip_missing, overwrite=args.overwrite,
                                manifest=RunManifest("panoptic", args))
        return 0
    settings = split_settings(parser, argv, args, uses_depth=not args.cc_instances)
    source = frame_source(args)
    native = not source.is_cityscapes and not explicitly_given(parser, argv, ("target_h", "target_w"))
    write_panoptic_split(args.cityscapes_root, args.split, args.semantic_subdir, settings,
                         centroids_path=args.centroids_path, depth_subdir=args.depth_subdir,
                         output_subdir=args.output_subdir,
                         target=None if native else (args.target_h, args.target_w),
                         min_stuff_area=args.min_stuff_area, min_new_pixels=args.min_new_pixels, limit=args.limit,
                         num_shards=args.num_shards, shard_index=args.shard_index, workers=args.workers,
                         overwrite=args.overwrite, manifest=RunManifest("panoptic", args),
                         requested_tau=args.grad_threshold, source=source, stuff_things=args.stuff_things)
    return 0
