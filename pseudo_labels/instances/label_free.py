"""The label-free thing/stuff decision of a split: read cluster maps and depth, measure, decide, write the JSON.

Two rules, each with its own run:

* today's (:mod:`pseudo_labels.instances.stuff_things`, three thresholds):
  :func:`run_label_free` measures the cluster maps of ``{root}/{semantic_subdir}/{split}``
  at the working size and writes ``stuff_things.json`` with a manifest beside it;
* the original's (:mod:`pseudo_labels.instances.split_ratio`, depth-split ratio):
  :func:`run_original_rule` measures every PNG under a folder at its own size
  and writes the JSON byte for byte as the original script does.

Only cluster maps and depth are read here, never ground truth; scoring a
decision against the GT-derived thing set is
:mod:`pseudo_labels.evaluation.thing_sets`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import prepare_output_file, write_json, write_text
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import working_size
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.instances import split_ratio, stuff_things
from pseudo_labels.instances import splitting as inst
from pseudo_labels.instances.settings import DEFAULT_SIGMA, PUBLISHED_TAU
from pseudo_labels.instances.units import semantic_and_depth

log = logging.getLogger("stuff_things")  # the command's name, as its log lines have always said

COMMAND = "stuff_things"
"""The command name the manifests record."""
ORIGINAL_TAU = 0.05
"""The original script's --grad_threshold default (its rule was tuned with it)."""
TODAY_TAU = PUBLISHED_TAU
"""Today's rule's default tau: the sweep's best."""


# --------------------------------------------------------------------------- today's rule


@dataclass
class LabelFreeDecision:
    """Today's decision on a split: the ``stuff_things.json`` record and what it was measured on."""

    record: dict
    files: dict[str, Path]
    depth_dir: Path
    num_clusters: int


def measure(files: dict[str, Path], depth_dir: Path, split: str, tau: float, num_clusters: int | None,
            sigma: float = inst.DEFAULT_SIGMA) -> stuff_things.ClusterStatistics:
    """Cluster statistics over the images at the working size (512x1024).

    ``num_clusters`` None: 1 + the largest id of the first map.
    """
    first_path = next(iter(files.values()))
    k = num_clusters or int(read_label_png(first_path).max()) + 1
    limit_from = (f"--num_clusters {num_clusters}" if num_clusters else
                  f"k guessed from {first_path.name}, its largest id + 1: pass --num_clusters, the number of clusters")
    statistics = stuff_things.ClusterStatistics(k)
    for key, path in tqdm(files.items(), desc="cluster statistics", unit="img"):
        clusters = read_label_png(path, k, limit_from=limit_from)
        size = working_size(*clusters.shape)  # 512x1024 for Cityscapes
        clusters = cs.resize_nearest(clusters, size)
        depth = load_depth(cs.output_path(depth_dir, split, key, ".npy"), size)
        statistics.add(clusters, inst.depth_gradient(depth, sigma) > tau)
    return statistics


def decide_split(root: Path, split: str, semantic_subdir: str, depth_subdir: str, rule: stuff_things.Rule,
                 tau: float = TODAY_TAU, sigma: float = DEFAULT_SIGMA, num_clusters: int | None = None,
                 limit: int | None = None) -> LabelFreeDecision:
    """Measure the split's cluster maps (the first ``limit``) and decide; every image needs its depth map."""
    files, _, missing = semantic_and_depth(root, semantic_subdir, depth_subdir, split, limit)
    if missing:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}. Generate them with "
                         f"generate_depth_spidepth.py first.")
    depth_dir = root / depth_subdir
    statistics = measure(files, depth_dir, split, tau, num_clusters, sigma)
    record = stuff_things.decide(statistics, rule, statistics.num_clusters)
    record.update({"split": split, "images": len(files), "grad_threshold": tau})
    return LabelFreeDecision(record, files, depth_dir, statistics.num_clusters)


def default_output(root: Path, semantic_subdir: str) -> Path:
    """Where today's decision goes by default: beside the cluster maps it describes."""
    return root / semantic_subdir / "stuff_things.json"


def write_decision(decision: LabelFreeDecision, output: Path, arguments: Mapping[str, Any]) -> Path:
    """Write the record to ``output`` (folder already prepared) and its manifest beside it; log the outcome."""
    write_json(output, decision.record)
    RunManifest(COMMAND, arguments).write(output.parent, name=f"{output.stem}.manifest.json")
    log.info("%d thing clusters of %d -> %s", len(decision.record["thing_ids"]), decision.num_clusters, output)
    return output


def run_label_free(root: Path, split: str = "train", semantic_subdir: str = "pseudo_semantic_raw_k80",
                   depth_subdir: str = cs.DEPTH_SUBDIR, rule: stuff_things.Rule | None = None,
                   tau: float = TODAY_TAU, sigma: float = DEFAULT_SIGMA, num_clusters: int | None = None,
                   limit: int | None = None, output: Path | None = None,
                   arguments: Mapping[str, Any] | None = None) -> tuple[dict, Path]:
    """Today's label-free decision for a split, written as ``stuff_things.json`` + manifest; returns (record, path).

    ``output`` None: :func:`default_output`. ``arguments``: the settings the
    manifest records (a command passes its flags); None records this call's.
    """
    rule = rule or stuff_things.Rule()
    decision = decide_split(root, split, semantic_subdir, depth_subdir, rule, tau, sigma, num_clusters, limit)
    path = prepare_output_file(output or default_output(root, semantic_subdir),
                               inputs=(root / semantic_subdir / split, root / depth_subdir / split))
    if arguments is None:
        arguments = {"cityscapes_root": root, "split": split, "semantic_subdir": semantic_subdir,
                     "depth_subdir": depth_subdir, "num_clusters": num_clusters, **asdict(rule),
                     "grad_threshold": tau, "depth_blur": sigma, "limit": limit, "output": output}
    return decision.record, write_decision(decision, path, arguments)


# --------------------------------------------------------------------------- the original rule


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


@dataclass
class OriginalDecision:
    """The original rule's outcome: its JSON record, the per-cluster rows and classification, where it went."""

    record: dict
    rows: dict[int, dict[str, float | int]]
    classification: dict[int, dict[str, str | float]]
    num_classes: int
    n_things: int
    output: Path


def run_original_rule(semantic_dir: Path, depth_dir: Path, output_path: Path, num_classes: int = 19,
                      n_things: int = 8, tau: float = ORIGINAL_TAU, sigma: float = DEFAULT_SIGMA,
                      max_images: int | None = None, skip_missing: bool = False,
                      arguments: Mapping[str, Any] | None = None) -> OriginalDecision:
    """The original rule on every PNG under ``semantic_dir``; writes its JSON (as the original does) + manifest.

    ``arguments``: the settings the manifest records; None records this call's.
    """
    pairs, listed = original_image_pairs(semantic_dir, depth_dir, max_images, skip_missing)
    rows = measure_split_ratio(pairs, num_classes, tau, sigma).table()
    classification = split_ratio.classify(rows, n_things, listed)
    record = split_ratio.decision_record(rows, classification)
    output = prepare_output_file(output_path, inputs=(semantic_dir, depth_dir), flag="--output_path")
    write_text(output, json.dumps(record, indent=2))
    if arguments is None:
        arguments = {"semantic_dir": semantic_dir, "depth_dir": depth_dir, "output_path": output_path,
                     "num_classes": num_classes, "n_things": n_things, "max_images": max_images, "depth_blur": sigma,
                     "skip_missing": skip_missing, "grad_threshold": tau}
    RunManifest(COMMAND, arguments).write(output.parent, name=f"{output.stem}.manifest.json")
    return OriginalDecision(record, rows, classification, num_classes, n_things, output)


def format_original(decision: OriginalDecision) -> str:
    """The lines the original prints: the count, each thing cluster by score, then the stuff and thing ids."""
    record, rows, classification = decision.record, decision.rows, decision.classification
    ranked = sorted(record["thing_ids"], key=lambda k: -classification[k]["score"])
    forced = sum(c["score"] == split_ratio.FORCED_STUFF_SCORE for c in classification.values())
    lines = [f"{len(record['thing_ids'])} things of {decision.num_classes} clusters (top {decision.n_things} by "
             f"depth-split ratio, after {forced} forced big stuff)"]
    for k in ranked:
        lines.append(f"  cluster {k:3d}  ratio {rows[k]['depth_split_ratio']:6.2f}  regions "
                     f"{rows[k]['avg_region_count']:7.1f}  relative size {rows[k]['avg_relative_size']:.4f}")
    lines += [f"Stuff IDs: {record['stuff_ids']}", f"Thing IDs: {record['thing_ids']}"]
    return "\n".join(lines)

