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
cluster ids with neither flag take ``{semantic_dir}/../kmeans_centroids.npz``,
where the semantics stage writes it (one log line says so, the manifest records
it); without that file they stop (exit 2): the original then split clusters
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
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import add_shard_arguments, add_workers_argument
from pseudo_labels.cli.options import (FIRST_N_OR_ALL, NON_NEGATIVE, NON_NEGATIVE_INT, SplitFlags,
                                       add_from_sweep_arguments, split_settings)
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.export.instance_files import INSTANCE_PNG_MODES, write_instance_files
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--semantic_dir", required=True, type=Path, help="{city}/{stem}.png semantic maps of one split")
    parser.add_argument("--depth_dir", required=True, type=Path, help="{city}/{stem}.npy depth maps of the same split")
    parser.add_argument("--output_dir", required=True, type=Path, help="where {city}/{stem}.npz and _instance.png go")
    parser.add_argument("--grad_threshold", type=NON_NEGATIVE, default=0.05,
                        help="tau: depth-gradient threshold (the original's default; the evaluated best is 0.20)")
    parser.add_argument("--min_area", type=NON_NEGATIVE_INT, default=100,
                        help="A_min in pixels at 512x1024 (the original's default; the evaluated best is 1000)")
    parser.add_argument("--dilation_iters", type=NON_NEGATIVE_INT, default=DEFAULT_DILATION_ITERS,
                        help="reclaim dilation steps")
    parser.add_argument("--depth_blur", type=NON_NEGATIVE, default=DEFAULT_SIGMA,
                        help="Gaussian blur sigma before Sobel")
    parser.add_argument("--stuff_things", type=Path, default=None,
                        help="stuff_things.json: split each of its thing_ids (cluster ids or trainIds) separately")
    parser.add_argument("--merge_thing_clusters", action="store_true",
                        help="with --stuff_things: split all thing clusters as one unit (depth edges alone separate "
                             "instances; each is named by its majority cluster)")
    parser.add_argument("--instance_png", choices=INSTANCE_PNG_MODES, default="original",
                        help="original: mask i drawn as id i+1, later (smaller) masks over earlier ones; evaluated: "
                             "painted as the reference protocol scores them (area order, >= 10 new pixels)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="kmeans_centroids.npz (cluster_to_class)")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=None, help="only the first N images")
    add_from_sweep_arguments(parser)
    add_shard_arguments(parser)
    add_workers_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="recompute into a folder made with other settings")
    parser.add_argument("--skip_missing", action="store_true", help="skip images without a depth map instead of stopping")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = split_settings(parser, argv, args, SplitFlags(sigma="depth_blur"))
    write_instance_files(args.semantic_dir, args.depth_dir, args.output_dir, settings,
                         centroids_path=args.centroids_path, stuff_things=args.stuff_things,
                         merge_thing_clusters=args.merge_thing_clusters, instance_png=args.instance_png,
                         limit=args.limit, num_shards=args.num_shards, shard_index=args.shard_index,
                         workers=args.workers, skip_missing=args.skip_missing, overwrite=args.overwrite,
                         manifest=RunManifest("instances", args))
    return 0
