"""Label-free thing/stuff decision per cluster: writes ``stuff_things.json`` from cluster maps and depth.

Two rules, each with its own interface. The original's (flags and JSON as in
the original script):

    python pseudo_labels/classify_stuff_things.py --semantic_dir R/pseudo_semantic_raw_k80/train \\
        --depth_dir R/depth_spidepth/train --output_path R/pseudo_semantic_raw_k80/stuff_things.json \\
        --num_classes 80 --n_things 12

ranks the clusters by how much depth edges split them, after forcing big
stuff (:mod:`pseudo_labels.instances.split_ratio`); the JSON holds ``classification``,
``statistics``, ``stuff_ids`` and ``thing_ids`` exactly as the original writes
them. Today's rule (three thresholds, :mod:`pseudo_labels.instances.stuff_things`):

    python pseudo_labels/classify_stuff_things.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --num_clusters 80

Both read raw cluster PNGs and depth maps only. ``--evaluate`` (with
``--cityscapes_root``) additionally scores, on a split with ground truth, the
sweep's algorithm with the GT-derived thing set against the label-free one
(same clusters, same depth) under both protocols -- an evaluation step that
reads gtFine and the centroid file's majority-vote map.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export import training as export
from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.instances import split_ratio, stuff_things
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, write_json, write_text
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.formats.centroids import load_cluster_to_class, thing_clusters
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, PUBLISHED_TAU, SplitSettings
from pseudo_labels.formats.semantic import read_label_png

log = logging.getLogger("stuff_things")


ORIGINAL_TAU = 0.05
"""The original script's --grad_threshold default (its rule was tuned with it)."""
TODAY_TAU = PUBLISHED_TAU
"""The --cityscapes_root mode's default: the sweep's best tau."""


def build_parser() -> argparse.ArgumentParser:
    rule = stuff_things.Rule()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    original = parser.add_argument_group("the original interface and rule (depth-split ratio)")
    original.add_argument("--semantic_dir", type=Path, default=None,
                          help="cluster PNGs of one split (any depth of subfolders); selects the original rule")
    original.add_argument("--depth_dir", type=Path, default=None, help="depth .npy maps, same subfolders and stems")
    original.add_argument("--output_path", type=Path, default=None, help="the stuff_things.json to write")
    original.add_argument("--num_classes", type=int, default=19, help="number of clusters (ids 0..num_classes-1)")
    original.add_argument("--n_things", type=int, default=8,
                          help="how many clusters outside the forced big stuff become things")
    original.add_argument("--max_images", type=int, default=None, help="only the first N images")
    original.add_argument("--depth_blur", type=float, default=DEFAULT_SIGMA,
                          help="Gaussian blur sigma before Sobel (both rules, and --evaluate)")
    original.add_argument("--skip_missing", action="store_true",
                          help="leave out images without a depth map (the original did so silently)")
    parser.add_argument("--grad_threshold", type=float, default=None,
                        help=f"tau of the depth edges (default: {ORIGINAL_TAU} with --semantic_dir, the original's; "
                             f"{TODAY_TAU} with --cityscapes_root)")
    today = parser.add_argument_group("today's interface and rule (three thresholds)")
    today.add_argument("--cityscapes_root", type=Path, default=None, help="Cityscapes root; selects today's rule")
    today.add_argument("--split", default="train", help="split whose cluster maps are measured")
    today.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="raw cluster PNGs under the root")
    today.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    today.add_argument("--num_clusters", type=int, default=None, help="k (default: 1 + the largest id seen)")
    today.add_argument("--max_area_fraction", type=float, default=rule.max_area_fraction)
    today.add_argument("--max_median_piece_fraction", type=float, default=rule.max_median_piece_fraction)
    today.add_argument("--min_edge_boundary_ratio", type=float, default=rule.min_edge_boundary_ratio)
    today.add_argument("--limit", type=int, default=None, help="only the first N images")
    today.add_argument("--output", type=Path, default=None,
                       help="default: {root}/{semantic_subdir}/stuff_things.json")
    today.add_argument("--evaluate", action="store_true",
                       help="also compare PQ with the GT-derived thing set (reads gtFine and --centroids_path)")
    today.add_argument("--centroids_path", type=Path, default=None, help="for --evaluate: the majority-vote map")
    today.add_argument("--min_area", type=int, default=PUBLISHED_MIN_AREA, help="for --evaluate: A_min at 512x1024")
    today.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS,
                       help="for --evaluate: reclaim dilation steps (--depth_blur and --grad_threshold apply too)")
    return parser


def original_image_pairs(semantic_dir: Path, depth_dir: Path, max_images: int | None, skip_missing: bool
                         ) -> tuple[list[tuple[Path, Path]], int]:
    """The original's listing: every PNG under ``semantic_dir`` (sorted, the first ``max_images``) and its depth.

    Returns the pairs that have a depth map and the number of PNGs listed
    (the big-stuff test divides by it, missing depth or not).
    """
    if not semantic_dir.is_dir():
        raise InputError(f"--semantic_dir {semantic_dir}: folder not found.")
    files = sorted(semantic_dir.rglob("*.png"))
    if max_images is not None:
        files = files[:max_images]
    if not files:
        raise InputError(f"no PNG under {semantic_dir}: pass the folder of one split's cluster maps.")
    pairs = [(f, depth_dir / f.relative_to(semantic_dir).parent / f"{f.stem}.npy") for f in files]
    missing = [str(d) for _, d in pairs if not d.is_file()]
    if missing and not skip_missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:5]}. Generate them with "
                         f"generate_depth_spidepth.py, or pass --skip_missing to leave those images out.")
    return [(f, d) for f, d in pairs if d.is_file()], len(files)


def measure_split_ratio(pairs: list[tuple[Path, Path]], num_classes: int, tau: float, sigma: float
                        ) -> split_ratio.SplitStatistics:
    """The original's statistics, each image at its semantic map's size (depth bilinearly resized to it)."""
    statistics = split_ratio.SplitStatistics(num_classes)
    warned = False
    for semantic_path, depth_path in tqdm(pairs, desc="split statistics", unit="img"):
        semantic = read_label_png(semantic_path)
        beyond = semantic[(semantic >= num_classes) & (semantic != cs.IGNORE_ID)]
        if beyond.size and not warned:  # the original ignores them silently
            log.warning("%s: ids up to %d are >= --num_classes %d and are not counted (pass --num_classes k)",
                        semantic_path, int(beyond.max()), num_classes)
            warned = True
        depth = load_depth(depth_path, semantic.shape).astype(np.float64)
        statistics.add(semantic, depth, inst.depth_gradient(depth, sigma) > tau)
    return statistics


def run_original(args: argparse.Namespace) -> int:
    """``--semantic_dir`` mode: the original rule and JSON (written byte for byte as the original writes it)."""
    if args.depth_dir is None or args.output_path is None:
        raise InputError("--semantic_dir needs --depth_dir and --output_path (the original's required flags).")
    if args.num_classes < 1 or args.n_things < 0:
        raise InputError(f"--num_classes must be >= 1 and --n_things >= 0, got {args.num_classes} and "
                         f"{args.n_things}.")
    tau = ORIGINAL_TAU if args.grad_threshold is None else args.grad_threshold
    pairs, listed = original_image_pairs(args.semantic_dir, args.depth_dir, args.max_images, args.skip_missing)
    rows = measure_split_ratio(pairs, args.num_classes, tau, args.depth_blur).table()
    classification = split_ratio.classify(rows, args.n_things, listed)
    record = split_ratio.decision_record(rows, classification)
    output = prepare_output_file(args.output_path)
    write_text(output, json.dumps(record, indent=2))
    RunManifest("stuff_things", args).write(output.parent, name=f"{output.stem}.manifest.json")
    ranked = sorted(record["thing_ids"], key=lambda k: -classification[k]["score"])
    print(f"{len(record['thing_ids'])} things of {args.num_classes} clusters (top {args.n_things} by depth-split "
          f"ratio, after {sum(c['score'] == split_ratio.FORCED_STUFF_SCORE for c in classification.values())} "
          f"forced big stuff)")
    for k in ranked:
        print(f"  cluster {k:3d}  ratio {rows[k]['depth_split_ratio']:6.2f}  regions "
              f"{rows[k]['avg_region_count']:7.1f}  relative size {rows[k]['avg_relative_size']:.4f}")
    print(f"Stuff IDs: {record['stuff_ids']}")
    print(f"Thing IDs: {record['thing_ids']}")
    log.info("%d thing clusters of %d -> %s", len(record["thing_ids"]), args.num_classes, output)
    return 0


def measure(files: dict[str, Path], depth_dir: Path, split: str, tau: float, num_clusters: int | None,
            sigma: float = inst.DEFAULT_SIGMA) -> stuff_things.ClusterStatistics:
    """Cluster statistics over the images (working size 512x1024)."""
    first = read_label_png(next(iter(files.values())))
    k = num_clusters or int(first.max()) + 1
    statistics = stuff_things.ClusterStatistics(k)
    for key, path in tqdm(files.items(), desc="cluster statistics", unit="img"):
        clusters = cs.resize_nearest(read_label_png(path, k), cs.WORKING_SIZE)
        depth = load_depth(cs.output_path(depth_dir, split, key, ".npy"), cs.WORKING_SIZE)
        statistics.add(clusters, inst.depth_gradient(depth, sigma) > tau)
    return statistics


def compare_thing_sets(root: Path, split: str, files: dict[str, Path], depth_dir: Path, table: np.ndarray,
                       label_free_things: list[int], settings: SplitSettings) -> dict[str, dict[str, float]]:
    """PQ (both protocols) of three ways to find things, on the same clusters and depth.

    ``gt_things``: split per class with the GT-derived thing classes (the
    evaluation protocol); ``label_free``: the label-free thing clusters merged
    into one unit, as the exports split them; ``label_free_per_cluster``: the
    same clusters split one by one; ``gt_thing_clusters_merged``: the clusters
    of GT-derived thing classes merged into one unit (separates the effect of
    the thing set from that of the splitting). Merged and per-cluster instances
    are scored with the class their majority cluster maps to. Every split uses ``settings``.
    """
    labels, instance_files = cs.label_ids_paths(root, split), cs.instance_ids_paths(root, split)
    names = ("gt_things", "label_free", "label_free_per_cluster", "gt_thing_clusters_merged")
    totals = {(name, p): pan.PanopticStats() for name in names for p in pan.PROTOCOLS}
    merged = export.label_free_units(tuple(label_free_things), "label-free thing clusters")
    gt_merged = export.label_free_units(thing_clusters(table), "GT thing clusters")
    for key, path in tqdm(files.items(), desc="compare thing sets", unit="img"):
        clusters = cs.resize_nearest(read_label_png(path, len(table)), cs.WORKING_SIZE)
        semantic = table[clusters]
        depth = load_depth(cs.output_path(depth_dir, split, key, ".npy"), cs.WORKING_SIZE)
        found = {"gt_things": inst.split(semantic, cs.THING_TRAIN_IDS, depth, settings)}
        per_cluster = inst.split(clusters, label_free_things, depth, settings)
        candidates = [("label_free_per_cluster", per_cluster)]
        for name, units in (("label_free", merged), ("gt_thing_clusters_merged", gt_merged)):
            union = inst.split(units.unit_map(clusters), units.things, depth, settings)
            candidates.append((name, units.named(union, clusters)))
        for name, instances in candidates:
            instances = instances.with_classes(table[instances.classes])
            found[name] = instances.subset(cs.IS_THING[instances.classes])  # an instance of a stuff class is no thing
        gt = cs.load_ground_truth(labels[key], instance_files[key])
        for name in names:
            for protocol in pan.PROTOCOLS:
                gt_segments = pan.protocol_ground_truth(gt.train_ids, gt.instance_ids, protocol, cs.WORKING_SIZE)
                pred = pan.protocol_prediction(semantic, found[name], protocol).resized(gt_segments.ids.shape)
                totals[(name, protocol)] += pan.match(gt_segments, pred, protocol)
    return {f"{name}/{protocol}": {k: v for k, v in pan.summary(stats, protocol).items() if k != "per_class"}
            for (name, protocol), stats in totals.items()}


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.semantic_dir is None) == (args.cityscapes_root is None):
        parser.error("pass --semantic_dir (with --depth_dir, --output_path: the original rule) or "
                     "--cityscapes_root (today's rule), not both")
    if args.semantic_dir is not None:
        return run_original(args)
    args.grad_threshold = TODAY_TAU if args.grad_threshold is None else args.grad_threshold
    root: Path = args.cityscapes_root
    files, _, missing = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir, args.split, args.limit)
    depth_dir = root / args.depth_subdir
    if missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them with "
                         f"generate_depth_spidepth.py first.")
    rule = stuff_things.Rule(args.max_area_fraction, args.max_median_piece_fraction, args.min_edge_boundary_ratio)
    statistics = measure(files, depth_dir, args.split, args.grad_threshold, args.num_clusters, args.depth_blur)
    record = stuff_things.decide(statistics, rule, statistics.num_clusters)
    record.update({"split": args.split, "images": len(files), "grad_threshold": args.grad_threshold})
    output = prepare_output_file(args.output or root / args.semantic_subdir / "stuff_things.json")
    if args.evaluate:
        if args.centroids_path is None:
            raise InputError("--evaluate needs --centroids_path (its majority-vote cluster_to_class).")
        table = load_cluster_to_class(args.centroids_path)
        settings = SplitSettings(args.grad_threshold, args.min_area, args.depth_blur, args.dilation_iters)
        record["evaluation"] = compare_thing_sets(root, args.split, files, depth_dir, table, record["thing_ids"],
                                                  settings)
        record["evaluation_settings"] = settings.to_dict()
        gt_thing_clusters = list(thing_clusters(table))
        record["evaluation"]["gt_thing_clusters"] = gt_thing_clusters
        agree = len(set(gt_thing_clusters) & set(record["thing_ids"]))
        print(f"label-free things: {len(record['thing_ids'])} clusters, {agree} of the "
              f"{len(gt_thing_clusters)} GT-derived thing clusters")
        print("| thing set | protocol | PQ | PQ_stuff | PQ_things | SQ | RQ |")
        print("|---|---|---|---|---|---|---|")
        for name, values in record["evaluation"].items():
            if "/" in name:
                thing_set, protocol = name.split("/")
                print(f"| {thing_set} | {protocol} | {values['PQ']:.2f} | {values['PQ_stuff']:.2f} | "
                      f"{values['PQ_things']:.2f} | {values['SQ']:.2f} | {values['RQ']:.2f} |")
    write_json(output, record)
    RunManifest("stuff_things", args).write(output.parent, name=f"{output.stem}.manifest.json")
    log.info("%d thing clusters of %d -> %s", len(record["thing_ids"]), statistics.num_clusters, output)
    return 0
