"""Parameter sweep: depth-guided instances on overclustered semantics, scored by panoptic quality.

    python pseudo_labels/sweep_k50_spidepth.py --cityscapes_root R --split val \\
        --semantic_subdir pseudo_semantic_raw_k80

Reads ``{R}/{semantic_subdir}/{split}/{city}/{stem}.png`` (raw cluster ids),
``kmeans_centroids.npz`` (its ``cluster_to_class``), ``{R}/{depth_subdir}/...npy``,
and the gtFine labelIds/instanceIds (ground truth: evaluation only). Writes
``{R}/sweep_k{k}_spidepth_{split}.json`` (or ``--output``) and a manifest beside it,
and prints the reference's summary table plus the best configuration per protocol.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import prepare_output_file, read_npz, sha256_file, sha256_lines, sha256_of_lines, write_json, write_npz
from pseudo_labels.instances.settings import DEFAULT_DILATION_ITERS, DEFAULT_SIGMA, SplitSettings
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import (add_shard_arguments, add_workers_argument, check_all_shards, default_workers,
                                         run_shard, unsharded_path)
from pseudo_labels.formats.centroids import load_cluster_to_class

log = logging.getLogger("sweep")

MAX_LISTED = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/, gtFine/)")
    parser.add_argument("--split", default="val", choices=("train", "val"), help="split to evaluate")
    parser.add_argument("--eval_size", type=int, nargs=2, default=cs.WORKING_SIZE, metavar=("H", "W"),
                        help="resolution of the reference protocol and of instance splitting")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k50", help="raw cluster PNGs under the root")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR, help="depth .npy maps under the root")
    parser.add_argument("--centroids_path", type=Path, default=None,
                        help="kmeans_centroids.npz (default: {root}/{semantic_subdir}/kmeans_centroids.npz)")
    parser.add_argument("--max_images", type=int, default=None, help="evaluate only the first N images (0: all)")
    parser.add_argument("--grad_thresholds", type=float, nargs="+", default=None, help="tau values")
    parser.add_argument("--min_areas", type=int, nargs="+", default=None, help="A_min values")
    parser.add_argument("--no_cc_baseline", action="store_true", help="skip the connected-component baseline")
    parser.add_argument("--depth_blur_sigma", type=float, default=DEFAULT_SIGMA, help="Gaussian blur before Sobel")
    parser.add_argument("--dilation_iters", type=int, default=DEFAULT_DILATION_ITERS, help="reclaim dilation steps")
    parser.add_argument("--protocol", choices=(*pan.PROTOCOLS, "both"), default="both", help="evaluation protocol")
    parser.add_argument("--output", type=Path, default=None,
                        help="result JSON (default: {root}/sweep_k{k}_spidepth_{split}.json)")
    add_workers_argument(parser)
    add_shard_arguments(parser)
    parser.add_argument("--skip_missing", action="store_true",
                        help="skip images whose semantic or depth file is missing instead of stopping")
    return parser


def _first_existing(*candidates: Path) -> Path | None:
    return next((p for p in candidates if p.is_file()), None)


def discover(root: Path, split: str, semantic_subdir: str, depth_subdir: str, needs_depth: bool,
             skip_missing: bool) -> list[sweep.ImageFiles]:
    """Pair every GT image with its semantic PNG and depth map; report missing files together."""
    labels = cs.label_ids_paths(root, split)
    instances = cs.instance_ids_paths(root, split)
    found, missing = [], []
    for key, label_path in labels.items():
        semantic = _first_existing(*(root / semantic_subdir / split / f"{key}{s}" for s in (".png", cs.IMAGE_SUFFIX)))
        depth = _first_existing(*(root / depth_subdir / split / f"{key}{s}" for s in (".npy", "_leftImg8bit.npy")))
        problems = []
        if key not in instances:
            problems.append(str(label_path).replace(cs.LABEL_IDS_SUFFIX, cs.INSTANCE_IDS_SUFFIX))
        if semantic is None:
            problems.append(str(root / semantic_subdir / split / f"{key}.png"))
        if needs_depth and depth is None:
            problems.append(str(root / depth_subdir / split / f"{key}.npy"))
        if problems:
            missing.extend(problems)
            continue
        found.append(sweep.ImageFiles(key, semantic, depth or Path(), label_path, instances[key]))
    if missing and not skip_missing:
        listed = "\n  ".join(missing[:MAX_LISTED])
        more = f"\n  ... and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
        raise InputError(f"{len(missing)} input file(s) missing for the {split} split:\n  {listed}{more}\n"
                         f"Generate them, or pass --skip_missing to evaluate only complete images.")
    if missing:
        log.warning("skipping %d image(s) with missing files (--skip_missing)", len(labels) - len(found))
    if not found:
        raise InputError(f"no image of {root}/gtFine/{split} has both semantics ({semantic_subdir}) and depth "
                         f"({depth_subdir}).")
    return found


def result_entries(grid: Sequence[SplitSettings], totals: sweep.SweepTotals, protocol: str) -> list[dict]:
    """One JSON entry per configuration: the reference's keys (unrounded) plus mode, protocol, per-class."""
    entries = []
    for index, config in enumerate(grid):
        numbers = pan.summary(totals.stats[protocol][index], protocol)
        entries.append({
            "grad_threshold": config.tau,
            "min_area": config.min_area,
            **{k: v for k, v in numbers.items() if k != "per_class"},
            "avg_instances": totals.instances[index] / max(totals.n_images, 1),
            "n_images": totals.n_images,
            "mode": "depth" if config.uses_depth else "cc_only",
            "protocol": protocol,
            "per_class": numbers["per_class"],
        })
    return entries


def best_entry(entries: Sequence[dict]) -> dict:
    """Highest PQ; ties go to the earlier entry (CC-only first), as in the reference."""
    return max(entries, key=lambda e: e["PQ"])  # max keeps the first of equal keys


def format_table(entries: Sequence[dict], k: int, protocol: str) -> str:
    """The reference's markdown summary table (one row per configuration)."""
    rule = "=" * 70
    lines = [rule, f"RESULTS: Parameter Sweep (k={k} overclustered + SPIdepth depth), {protocol} protocol", rule,
             "| grad_thresh | min_area | inst/img | PQ | PQ_stuff | PQ_things | SQ | RQ |",
             "|------------|----------|----------|-----|----------|-----------|------|------|"]
    for e in entries:
        tau = "CC-only" if e["mode"] == "cc_only" else f"{e['grad_threshold']:.2f}"
        lines.append(f"| {tau:>10} | {e['min_area']:>8} | {e['avg_instances']:8.1f} | {e['PQ']:4.1f} | "
                     f"{e['PQ_stuff']:8.1f} | {e['PQ_things']:9.1f} | {e['SQ']:4.1f} | {e['RQ']:4.1f} |")
    return "\n".join(lines)


def format_best(entry: dict) -> str:
    """One line naming the best configuration of a protocol, then its per-class PQ."""
    where = "CC-only" if entry["mode"] == "cc_only" else f"grad_thresh={entry['grad_threshold']:.2f}, min_area={entry['min_area']}"
    lines = [f"Best ({entry['protocol']}): {where}: PQ={entry['PQ']:.2f} PQ_st={entry['PQ_stuff']:.2f} "
             f"PQ_th={entry['PQ_things']:.2f} SQ={entry['SQ']:.2f} RQ={entry['RQ']:.2f}"]
    rows = sorted(((v["PQ"], name, v) for name, v in entry["per_class"].items() if v["evaluated"]), reverse=True)
    for pq, name, v in rows:
        kind = "T" if v["thing"] else "S"
        lines.append(f"  [{kind}] {name:15s}: PQ={pq:5.1f} SQ={v['SQ']:5.1f} RQ={v['RQ']:5.1f} "
                     f"(TP={v['TP']} FP={v['FP']} FN={v['FN']})")
    return "\n".join(lines)


def build_record(meta: dict, grid: Sequence[SplitSettings], totals: sweep.SweepTotals, inputs: dict) -> dict:
    """The result JSON (the original's keys first), from the run's settings ``meta`` and summed statistics."""
    protocols = meta["protocols"]
    results = [entry for protocol in protocols for entry in result_entries(grid, totals, protocol)]
    best = {p: best_entry([e for e in results if e["protocol"] == p]) for p in protocols}
    return {
        "split": meta["split"], "k": meta["k"], "eval_resolution": meta["eval_resolution"],
        "depth_subdir": meta["depth_subdir"], "semantic_subdir": meta["semantic_subdir"],
        "protocols": list(protocols), "grid": [[c.tau, c.min_area] for c in grid],
        "depth_blur_sigma": meta["depth_blur_sigma"], "dilation_iters": meta["dilation_iters"],
        "n_images": totals.n_images, "results": results, "best": best, "inputs": inputs,
    }


def grid_from(meta: dict) -> list[SplitSettings]:
    return [SplitSettings(tau, area, meta["depth_blur_sigma"], meta["dilation_iters"]) for tau, area in meta["grid"]]


def report_and_save(record: dict, output: Path) -> None:
    write_json(output, record)
    results = record["results"]
    for protocol in record["protocols"]:
        print(format_table([e for e in results if e["protocol"] == protocol], record["k"], protocol))
    for protocol in record["protocols"]:
        print(format_best(record["best"][protocol]))
    print(f"Saved to: {output}")


def shard_path(output: Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` keeps its per-image statistics."""
    return output.with_name(f"{output.stem}.shard-{index}-of-{count}.npz")


def write_shard(path: Path, meta: dict, index: int, totals: sweep.SweepTotals, semantic_lines: list[str],
                depth_lines: list[str]) -> Path:
    """Per-image statistics of a shard, so that merging sums images in the same order as one run."""
    protocols = meta["protocols"]
    return write_npz(path, {
        "meta": np.str_(json.dumps(meta, sort_keys=True)),
        "shard_index": np.int64(index),
        "keys": np.array(totals.per_image, dtype=np.str_),
        "stats": sweep.image_stats_array(totals.images, protocols),
        "instances": np.array([r.instances for r in totals.images], np.int64).reshape(len(totals.images), -1),
        "semantic_lines": np.array(semantic_lines, dtype=np.str_),
        "depth_lines": np.array(depth_lines, dtype=np.str_),
    })


@exit_on_input_error
def merge(argv: Sequence[str]) -> int:
    """``merge SHARD.npz ... [--output JSON]``: the JSON a single run over all shards' images writes."""
    parser = argparse.ArgumentParser(prog=f"{Path(sys.argv[0]).name} merge", description="merge sweep shards",
                                     formatter_class=HelpFormatter)
    parser.add_argument("shards", nargs="+", type=Path, help="the .shard-i-of-n.npz files")
    parser.add_argument("--output", type=Path, default=None, help="default: the shards' name without the shard suffix")
    args = parser.parse_args(argv)
    parts = [read_npz(path, "Re-run that shard of the sweep.") for path in args.shards]
    metas = [json.loads(str(part["meta"])) for part in parts]
    if any(m != metas[0] for m in metas):
        raise InputError(f"the shards {[str(p) for p in args.shards]} come from different sweep settings.")
    meta = metas[0]
    check_all_shards([int(part["shard_index"]) for part in parts], meta["num_shards"])
    keys = np.concatenate([part["keys"] for part in parts])
    order = np.argsort(keys, kind="stable")
    stats = np.concatenate([part["stats"] for part in parts])[order]
    instances = np.concatenate([part["instances"] for part in parts])[order]
    grid = grid_from(meta)
    params = sweep.SweepParams(tuple(grid), tuple(meta["protocols"]))
    totals = sweep.SweepTotals.empty(params)
    for key, result in zip(keys[order], sweep.results_from_array(stats, instances, meta["protocols"])):
        totals.add(str(key), result)
    semantic_lines = np.concatenate([part["semantic_lines"] for part in parts])[order]
    inputs = {"semantic": {"count": len(keys), "sha256": sha256_of_lines(str(x) for x in semantic_lines)},
              "centroids": meta["centroids"]}
    if meta["needs_depth"]:
        depth_lines = np.concatenate([part["depth_lines"] for part in parts])[order]
        inputs["depth"] = {"count": len(keys), "sha256": sha256_of_lines(str(x) for x in depth_lines)}
    output = prepare_output_file(args.output or unsharded_path(args.shards[0], ".json"))
    report_and_save(build_record(meta, grid, totals, inputs), output)
    return 0


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge(argv[1:])
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    if not root.is_dir():
        raise InputError(f"--cityscapes_root {root} is not a folder.")
    if args.dilation_iters < 0 or args.depth_blur_sigma < 0:
        raise InputError("--dilation_iters and --depth_blur_sigma must be >= 0.")
    centroids = args.centroids_path or root / args.semantic_subdir / "kmeans_centroids.npz"
    cluster_to_class = load_cluster_to_class(centroids)
    k = len(cluster_to_class)
    grid = sweep.build_grid(args.grad_thresholds, args.min_areas, not args.no_cc_baseline, args.depth_blur_sigma,
                            args.dilation_iters)
    if not grid:
        raise InputError("the grid is empty: give thresholds/areas or drop --no_cc_baseline.")
    protocols = pan.PROTOCOLS if args.protocol == "both" else (args.protocol,)
    needs_depth = any(c.uses_depth for c in grid)
    files = discover(root, args.split, args.semantic_subdir, args.depth_subdir, needs_depth, args.skip_missing)
    if args.max_images:
        files = files[: args.max_images]
    files = run_shard(files, args)
    output = prepare_output_file(args.output or root / f"sweep_k{k}_spidepth_{args.split}.json")
    workers = args.workers or default_workers()
    log.info("%d images, %d configurations, protocols %s, eval size %dx%d, %d workers",
             len(files), len(grid), "+".join(protocols), *args.eval_size, workers)
    manifest = RunManifest("sweep", args)
    params = sweep.SweepParams(tuple(grid), protocols, tuple(args.eval_size))
    sharded = args.num_shards > 1
    totals = sweep.run_sweep(files, cluster_to_class, params, workers=workers, keep_images=sharded)
    semantic_lines = sha256_lines([f.semantic for f in files], root)
    depth_lines = sha256_lines([f.depth for f in files], root) if needs_depth else []
    meta = {"split": args.split, "k": k, "eval_resolution": list(args.eval_size), "depth_subdir": args.depth_subdir,
            "semantic_subdir": args.semantic_subdir, "protocols": list(protocols),
            "grid": [[c.tau, c.min_area] for c in grid], "depth_blur_sigma": args.depth_blur_sigma,
            "dilation_iters": args.dilation_iters, "needs_depth": needs_depth, "num_shards": args.num_shards,
            "centroids": {"path": str(centroids), "sha256": sha256_file(centroids)}}
    manifest.add_inputs({"semantic": [f.semantic for f in files], "centroids": centroids}, root=root)
    if sharded:
        path = write_shard(shard_path(output, args.shard_index, args.num_shards), meta, args.shard_index, totals,
                           semantic_lines, depth_lines)
        manifest.write(path.parent, extra={"output": str(path)}, name=f"{path.stem}.manifest.json")
        print(f"Shard saved to: {path}\nWhen every shard is done: python pseudo_labels/sweep_k50_spidepth.py merge "
              f"{shard_path(output, 0, args.num_shards).name.replace('-0-of-', '-*-of-')} --output {output}")
        return 0
    inputs = {"semantic": {"count": len(files), "sha256": sha256_of_lines(semantic_lines)}, "centroids": meta["centroids"]}
    if needs_depth:
        inputs["depth"] = {"count": len(files), "sha256": sha256_of_lines(depth_lines)}
    report_and_save(build_record(meta, grid, totals, inputs), output)
    timing = {"seconds": round(totals.seconds, 3), "workers": workers,
              "seconds_per_image": round(totals.seconds / max(totals.n_images, 1), 4)}
    manifest.write(output.parent, extra={"output": str(output), "timing": timing}, name=f"{output.stem}.manifest.json")
    return 0
