"""Label-free thing/stuff decision per cluster: writes ``stuff_things.json`` from cluster maps and depth.

    python pseudo_labels/classify_stuff_things.py --cityscapes_root R --split train \\
        --semantic_subdir pseudo_semantic_raw_k80 --num_clusters 80

Reads raw cluster PNGs and depth maps only (see :mod:`pseudo_labels.stuff_things`
for the statistics and the rule). ``--evaluate`` additionally scores, on a split
with ground truth, the sweep's algorithm with the GT-derived thing set against
the label-free one (same clusters, same depth) under both protocols -- an
evaluation step that reads gtFine and the centroid file's majority-vote map.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels import cityscapes as cs
from pseudo_labels import export
from pseudo_labels import instances as inst
from pseudo_labels import panoptic as pan
from pseudo_labels import stuff_things
from pseudo_labels.cli_help import HelpFormatter
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import prepare_output_file, write_json
from pseudo_labels.manifest import RunManifest
from pseudo_labels.sweep import load_cluster_to_class, load_depth

log = logging.getLogger("stuff_things")


def build_parser() -> argparse.ArgumentParser:
    rule = stuff_things.Rule()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root")
    parser.add_argument("--split", default="train", help="split whose cluster maps are measured")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80", help="raw cluster PNGs under the root")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--num_clusters", type=int, default=None, help="k (default: 1 + the largest id seen)")
    parser.add_argument("--grad_threshold", type=float, default=0.20, help="tau of the depth edges")
    parser.add_argument("--max_area_fraction", type=float, default=rule.max_area_fraction)
    parser.add_argument("--max_median_piece_fraction", type=float, default=rule.max_median_piece_fraction)
    parser.add_argument("--min_edge_boundary_ratio", type=float, default=rule.min_edge_boundary_ratio)
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--output", type=Path, default=None,
                        help="default: {root}/{semantic_subdir}/stuff_things.json")
    parser.add_argument("--evaluate", action="store_true",
                        help="also compare PQ with the GT-derived thing set (reads gtFine and --centroids_path)")
    parser.add_argument("--centroids_path", type=Path, default=None, help="for --evaluate: the majority-vote map")
    parser.add_argument("--min_area", type=int, default=1000, help="for --evaluate: A_min at 512x1024")
    return parser


def measure(files: dict[str, Path], depth_dir: Path, split: str, tau: float, num_clusters: int | None
            ) -> stuff_things.ClusterStatistics:
    """Cluster statistics over the images (working size 512x1024)."""
    first = cs.read_label_png(next(iter(files.values())))
    k = num_clusters or int(first.max()) + 1
    statistics = stuff_things.ClusterStatistics(k)
    for key, path in tqdm(files.items(), desc="cluster statistics", unit="img"):
        clusters = cs.resize_nearest(cs.read_label_png(path, k), export.WORKING_SIZE)
        depth = load_depth(cs.output_path(depth_dir, split, key, ".npy"), export.WORKING_SIZE)
        statistics.add(clusters, inst.depth_gradient(depth) > tau)
    return statistics


def compare_thing_sets(root: Path, split: str, files: dict[str, Path], depth_dir: Path, table: np.ndarray,
                       label_free_things: list[int], tau: float, min_area: int) -> dict[str, dict[str, float]]:
    """PQ (both protocols) of three ways to find things, on the same clusters and depth.

    ``gt_things``: split per class with the GT-derived thing classes (the
    evaluation protocol); ``label_free``: the label-free thing clusters merged
    into one unit, as the exports split them; ``label_free_per_cluster``: the
    same clusters split one by one; ``gt_thing_clusters_merged``: the clusters
    of GT-derived thing classes merged into one unit (separates the effect of
    the thing set from that of the splitting). Merged and per-cluster instances
    are scored with the class their majority cluster maps to.
    """
    labels, instance_files = cs.label_ids_paths(root, split), cs.instance_ids_paths(root, split)
    names = ("gt_things", "label_free", "label_free_per_cluster", "gt_thing_clusters_merged")
    totals = {(name, p): pan.PanopticStats() for name in names for p in pan.PROTOCOLS}
    merged = export.label_free_units(tuple(label_free_things), "label-free thing clusters")
    gt_merged = export.label_free_units(tuple(int(c) for c in np.flatnonzero(cs.IS_THING[table])), "GT thing clusters")
    for key, path in tqdm(files.items(), desc="compare thing sets", unit="img"):
        clusters = cs.resize_nearest(cs.read_label_png(path, len(table)), export.WORKING_SIZE)
        semantic = table[clusters]
        gradient = inst.depth_gradient(load_depth(cs.output_path(depth_dir, split, key, ".npy"), export.WORKING_SIZE))
        found = {"gt_things": inst.split_instances(semantic, gradient, tau, min_area)}
        per_cluster = inst.split_instances(clusters, gradient, tau, min_area, thing_ids=label_free_things)
        candidates = [("label_free_per_cluster", per_cluster)]
        for name, units in (("label_free", merged), ("gt_thing_clusters_merged", gt_merged)):
            union = inst.split_instances(units.unit_map(clusters), gradient, tau, min_area, thing_ids=units.things)
            candidates.append((name, units.named(union, clusters)))
        for name, instances in candidates:
            instances = instances.with_classes(table[instances.classes])
            found[name] = instances.subset(cs.IS_THING[instances.classes])  # an instance of a stuff class is no thing
        gt = cs.load_ground_truth(labels[key], instance_files[key])
        for name in names:
            for protocol in pan.PROTOCOLS:
                if protocol == pan.REFERENCE:
                    gt_segments = pan.reference_gt_segments(cs.resize_nearest(gt.train_ids, export.WORKING_SIZE),
                                                            cs.resize_nearest(gt.instance_ids, export.WORKING_SIZE))
                    pred = pan.predicted_segments(semantic, found[name], pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
                else:
                    gt_segments = pan.official_gt_segments(gt.instance_ids)
                    pred = pan.predicted_segments(semantic, found[name], 1, 1)
                    pred = pred.resized(gt_segments.ids.shape)
                totals[(name, protocol)] += pan.match(gt_segments, pred, protocol)
    return {f"{name}/{protocol}": {k: v for k, v in pan.summary(stats, protocol).items() if k != "per_class"}
            for (name, protocol), stats in totals.items()}


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    files, _, missing = export.semantic_and_depth(root, args.semantic_subdir, args.depth_subdir, args.split, args.limit)
    depth_dir = root / args.depth_subdir
    if missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them with "
                         f"generate_depth_spidepth.py first.")
    rule = stuff_things.Rule(args.max_area_fraction, args.max_median_piece_fraction, args.min_edge_boundary_ratio)
    statistics = measure(files, depth_dir, args.split, args.grad_threshold, args.num_clusters)
    record = stuff_things.decide(statistics, rule, statistics.num_clusters)
    record.update({"split": args.split, "images": len(files), "grad_threshold": args.grad_threshold})
    output = prepare_output_file(args.output or root / args.semantic_subdir / "stuff_things.json")
    if args.evaluate:
        if args.centroids_path is None:
            raise InputError("--evaluate needs --centroids_path (its majority-vote cluster_to_class).")
        table = load_cluster_to_class(args.centroids_path)
        record["evaluation"] = compare_thing_sets(root, args.split, files, depth_dir, table, record["thing_ids"],
                                                  args.grad_threshold, args.min_area)
        gt_thing_clusters = sorted(int(c) for c in np.flatnonzero(cs.IS_THING[table]))
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


if __name__ == "__main__":
    raise SystemExit(main())
