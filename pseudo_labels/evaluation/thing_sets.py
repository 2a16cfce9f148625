"""How much a label-free thing set costs: PQ of the sweep's split with it against the GT-derived thing set.

The label-free decision (:mod:`pseudo_labels.instances.label_free`) reads no
ground truth. On a split that has it, :func:`compare_thing_sets` scores the
same clusters and depth split four ways under both protocols, and
:func:`run_label_free_evaluated` adds those numbers to the decision's
``stuff_things.json``. GT (gtFine) and the centroid file's majority-vote map
are read here only: this is an evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import prepare_output_file
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.formats.centroids import load_cluster_to_class, thing_clusters
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.label_free import (TODAY_TAU, LabelFreeDecision, decide_split, default_output,
                                                write_decision)
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, PUBLISHED_MIN_AREA, SplitSettings
from pseudo_labels.instances.stuff_things import Rule
from pseudo_labels.instances.units import label_free_units

THING_SETS = ("gt_things", "label_free", "label_free_per_cluster", "gt_thing_clusters_merged")
"""The four ways to find things that :func:`compare_thing_sets` scores, in the order of its result."""


def compare_thing_sets(root: Path, split: str, files: dict[str, Path], depth_dir: Path, table: np.ndarray,
                       label_free_things: list[int], settings: SplitSettings) -> dict[str, dict[str, float]]:
    """PQ (both protocols) of four ways to find things, on the same clusters and depth.

    ``gt_things``: split per class with the GT-derived thing classes (the
    evaluation protocol); ``label_free``: the label-free thing clusters merged
    into one unit, as the exports split them; ``label_free_per_cluster``: the
    same clusters split one by one; ``gt_thing_clusters_merged``: the clusters
    of GT-derived thing classes merged into one unit (separates the effect of
    the thing set from that of the splitting). Merged and per-cluster instances
    are scored with the class their majority cluster maps to (``table``, the
    centroid file's ``cluster_to_class``). Every split uses ``settings``.
    Keys are ``{thing set}/{protocol}``; values the summary without per-class rows.
    """
    labels, instance_files = cs.label_ids_paths(root, split), cs.instance_ids_paths(root, split)
    totals = {(name, p): pan.PanopticStats() for name in THING_SETS for p in pan.PROTOCOLS}
    merged = label_free_units(tuple(label_free_things), "label-free thing clusters")
    gt_merged = label_free_units(thing_clusters(table), "GT thing clusters")
    for key, path in tqdm(files.items(), desc="compare thing sets", unit="img"):
        clusters = cs.resize_nearest(read_label_png(path, len(table)), cs.WORKING_SIZE)
        semantic = table[clusters]
        depth = load_depth(cs.output_path(depth_dir, split, key, ".npy"), cs.WORKING_SIZE)
        gradient = inst.depth_gradient(depth, settings.sigma)  # once per image, for the four splits
        found = {"gt_things": inst.split(semantic, cs.THING_TRAIN_IDS, depth, settings, gradient)}
        per_cluster = inst.split(clusters, label_free_things, depth, settings, gradient)
        candidates = [("label_free_per_cluster", per_cluster)]
        for name, units in (("label_free", merged), ("gt_thing_clusters_merged", gt_merged)):
            union = inst.split(units.unit_map(clusters), units.things, depth, settings, gradient)
            candidates.append((name, units.named(union, clusters)))
        for name, instances in candidates:
            instances = instances.with_classes(table[instances.classes])
            found[name] = instances.subset(cs.IS_THING[instances.classes])  # an instance of a stuff class is no thing
        gt = cs.load_ground_truth(labels[key], instance_files[key])
        for name in THING_SETS:
            for protocol in pan.PROTOCOLS:
                gt_segments = pan.protocol_ground_truth(gt.train_ids, gt.instance_ids, protocol, cs.WORKING_SIZE)
                pred = pan.protocol_prediction(semantic, found[name], protocol).resized(gt_segments.ids.shape)
                totals[(name, protocol)] += pan.match(gt_segments, pred, protocol)
    return {f"{name}/{protocol}": {k: v for k, v in pan.summary(stats, protocol).items() if k != "per_class"}
            for (name, protocol), stats in totals.items()}


def add_evaluation(decision: LabelFreeDecision, root: Path, split: str, centroids_path: Path | None, tau: float,
                   min_area: int, sigma: float, dilation_iters: int) -> dict:
    """Score the decision's thing set (:func:`compare_thing_sets`) into its record: ``evaluation`` and its settings.

    ``centroids_path``: the file whose ``cluster_to_class`` names the clusters
    (required); the splits use tau, ``min_area``, ``sigma`` and
    ``dilation_iters``. ``evaluation`` also lists the GT-derived thing clusters.
    """
    if centroids_path is None:
        raise InputError("--evaluate needs --centroids_path (its majority-vote cluster_to_class).")
    record = decision.record
    table = load_cluster_to_class(centroids_path)
    settings = SplitSettings(tau, min_area, sigma, dilation_iters)
    record["evaluation"] = compare_thing_sets(root, split, decision.files, decision.depth_dir, table,
                                              record["thing_ids"], settings)
    record["evaluation_settings"] = settings.to_dict()
    record["evaluation"]["gt_thing_clusters"] = list(thing_clusters(table))
    return record


def run_label_free_evaluated(root: Path, split: str = "train", semantic_subdir: str = "pseudo_semantic_raw_k80",
                             depth_subdir: str = cs.DEPTH_SUBDIR, rule: Rule | None = None,
                             tau: float = TODAY_TAU, sigma: float = DEFAULT_SIGMA, num_clusters: int | None = None,
                             limit: int | None = None, output: Path | None = None, *, centroids_path: Path | None,
                             min_area: int = PUBLISHED_MIN_AREA, dilation_iters: int = DEFAULT_DILATION_ITERS,
                             arguments: Mapping[str, Any] | None = None) -> tuple[dict, Path]:
    """Today's label-free decision for a split, scored against the GT-derived thing set, written with its manifest.

    As :func:`pseudo_labels.instances.label_free.run_label_free`, plus the
    ``evaluation`` of :func:`add_evaluation` (the centroid file's majority
    vote names the clusters; splits with tau, ``min_area``, ``sigma``,
    ``dilation_iters``). Returns (record, path).
    """
    rule = rule or Rule()
    decision = decide_split(root, split, semantic_subdir, depth_subdir, rule, tau, sigma, num_clusters, limit)
    path = prepare_output_file(output or default_output(root, semantic_subdir),
                               inputs=(root / semantic_subdir / split, root / depth_subdir / split))
    add_evaluation(decision, root, split, centroids_path, tau, min_area, sigma, dilation_iters)
    if arguments is None:
        arguments = {"cityscapes_root": root, "split": split, "semantic_subdir": semantic_subdir,
                     "depth_subdir": depth_subdir, "num_clusters": num_clusters, **asdict(rule),
                     "grad_threshold": tau, "depth_blur": sigma, "limit": limit, "output": output, "evaluate": True,
                     "centroids_path": centroids_path, "min_area": min_area, "dilation_iters": dilation_iters}
    return decision.record, write_decision(decision, path, arguments)


def format_thing_sets(record: dict) -> str:
    """The agreement line and the Markdown table of an evaluated record (one row per thing set and protocol)."""
    evaluation = record["evaluation"]
    gt_clusters = evaluation["gt_thing_clusters"]
    agree = len(set(gt_clusters) & set(record["thing_ids"]))
    lines = [f"label-free things: {len(record['thing_ids'])} clusters, {agree} of the {len(gt_clusters)} "
             f"GT-derived thing clusters",
             "| thing set | protocol | PQ | PQ_stuff | PQ_things | SQ | RQ |",
             "|---|---|---|---|---|---|---|"]
    for name, values in evaluation.items():
        if "/" in name:
            thing_set, protocol = name.split("/")
            lines.append(f"| {thing_set} | {protocol} | {values['PQ']:.2f} | {values['PQ_stuff']:.2f} | "
                         f"{values['PQ_things']:.2f} | {values['SQ']:.2f} | {values['RQ']:.2f} |")
    return "\n".join(lines)
