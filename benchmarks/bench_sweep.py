"""Sweep speed and memory: the vectorised sweep against the per-mask oracle, on the full default grid.

    .venv/bin/python benchmarks/bench_sweep.py [--num_images 24] [--root outputs/bench_sweep]

Builds (once) a synthetic val set in Cityscapes format: GT 1024x2048, raw
clusters (k=80) and depth 512x1024. Then, in one process:

1. the oracle (``split_instances_reference`` + ``oracle.evaluate_image``, one
   boolean mask per segment, reference protocol) on every image and config;
2. the fast sweep (``run_sweep``) with the reference protocol, 1 and 2 workers,
   and with both protocols;
3. a check that the oracle and the fast path give identical TP/FP/FN for every
   configuration and class;
4. peak traced memory (tracemalloc) of the fast sweep on a quarter of the
   images and on all of them (it should not grow with the number of images).

Prints a table. Nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.evaluation import oracle
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.data.synthetic import write_dataset
from pseudo_labels.formats.semantic import load_semantic
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.centroids import load_cluster_to_class
from pseudo_labels.instances.reference import split_instances_reference

K = 80
SEMANTIC = f"pseudo_semantic_raw_k{K}"
EVAL_SIZE = cs.WORKING_SIZE


def dataset(root: Path, num_images: int) -> list[sweep.ImageFiles]:
    """The benchmark images (generated when absent), as sweep inputs."""
    marker = root / "synthetic_val.json"
    if not marker.is_file() or len(cs.label_ids_paths(root, "val")) < num_images:
        write_dataset(root, "val", num_images=num_images, seed=2024, size=(1024, 2048), num_clusters=K)
    labels = cs.label_ids_paths(root, "val")
    instances = cs.instance_ids_paths(root, "val")
    keys = list(labels)[:num_images]
    return [sweep.ImageFiles(k, root / SEMANTIC / "val" / f"{k}.png", root / cs.DEPTH_SUBDIR / "val" / f"{k}.npy",
                             labels[k], instances[k]) for k in keys]


def run_oracle(files: list[sweep.ImageFiles], table: np.ndarray, grid: list[SplitSettings]) -> list[pan.PanopticStats]:
    """Reference-protocol statistics per config, the straightforward way."""
    totals = [pan.PanopticStats() for _ in grid]
    for f in files:
        semantic = load_semantic(f.semantic, table, EVAL_SIZE)
        depth = load_depth(f.depth, EVAL_SIZE)
        gt = cs.load_ground_truth(f.label_ids, f.instance_ids)
        gt_train = cs.resize_nearest(gt.train_ids, EVAL_SIZE)
        gt_instance = cs.resize_nearest(gt.instance_ids, EVAL_SIZE)
        for total, config in zip(totals, grid):
            masks = split_instances_reference(semantic, depth if config.uses_depth else None, config.tau,
                                                   config.min_area)
            total += oracle.evaluate_image(semantic, masks, gt_train, gt_instance)
    return totals


def timed(function, *args, **kwargs):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def peak_memory_mb(files: list[sweep.ImageFiles], table: np.ndarray, params: sweep.SweepParams) -> float:
    tracemalloc.start()
    sweep.run_sweep(files, table, params, workers=1, show_progress=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/bench_sweep"))
    parser.add_argument("--num_images", type=int, default=24)
    args = parser.parse_args()
    files = dataset(args.root, args.num_images)
    table = load_cluster_to_class(args.root / SEMANTIC / "kmeans_centroids.npz")
    grid = sweep.build_grid()
    reference = sweep.SweepParams(tuple(grid), (pan.REFERENCE,), EVAL_SIZE)
    both = sweep.SweepParams(tuple(grid), pan.PROTOCOLS, EVAL_SIZE)
    n = len(files)
    print(f"{n} images (GT 1024x2048, prediction and depth 512x1024), {len(grid)} configurations, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}")

    oracle_stats, oracle_s = timed(run_oracle, files, table, grid)
    rows = [("oracle (per mask), reference protocol", 1, oracle_s)]
    fast_stats = None
    for workers in (1, 2):
        totals, seconds = timed(sweep.run_sweep, files, table, reference, workers=workers, show_progress=False)
        fast_stats = fast_stats or totals.stats[pan.REFERENCE]
        rows.append(("fast sweep, reference protocol", workers, seconds))
    for workers in (1, 2):
        _, seconds = timed(sweep.run_sweep, files, table, both, workers=workers, show_progress=False)
        rows.append(("fast sweep, both protocols", workers, seconds))

    identical = all(a.counts_equal(b) for a, b in zip(oracle_stats, fast_stats))
    max_iou_diff = max(float(np.abs(a.iou - b.iou).max()) for a, b in zip(oracle_stats, fast_stats))
    quarter = max(1, n // 4)
    memory = [(quarter, peak_memory_mb(files[:quarter], table, both)), (n, peak_memory_mb(files, table, both))]

    print()
    print("| path | workers | total s | s / image | speed-up vs oracle |")
    print("|---|---|---|---|---|")
    for name, workers, seconds in rows:
        print(f"| {name} | {workers} | {seconds:.1f} | {seconds / n:.3f} | {oracle_s / seconds:.1f}x |")
    print()
    print(f"TP/FP/FN identical to the oracle on all {len(grid)} configurations x 19 classes: {identical}; "
          f"largest IoU-sum difference {max_iou_diff:.2e}")
    print("| images | peak traced memory (MiB), fast sweep, both protocols, 1 worker |")
    print("|---|---|")
    for count, megabytes in memory:
        print(f"| {count} | {megabytes:.0f} |")


if __name__ == "__main__":
    main()
