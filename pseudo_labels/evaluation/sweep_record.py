"""The sweep's result JSON, its summary tables, and the shard files a split run over several jobs leaves.

:func:`build_record` turns summed statistics (:class:`~pseudo_labels.evaluation.sweep.SweepTotals`)
into the JSON the original sweep writes (its keys first, unrounded numbers),
plus mode, protocol and per-class rows; :func:`print_sweep` prints the
original's tables and the best configuration per protocol. A sharded run
keeps per-image statistics (:func:`write_shard`, read back and checked by
:func:`read_shard`) so that :func:`merge_shards` sums them in the same image
order as one run, giving the same bytes.
:func:`write_results` writes the JSON and, beside it, every image's statistics.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import is_json_int, is_json_number, prepare_output_file, read_npz, sha256_of_lines, write_json, write_npz
from pseudo_labels.core.parallel import check_all_shards, check_partition, check_same_settings, unsharded_path
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.evaluation.cups_protocol import CUPS
from pseudo_labels.evaluation.sweep_cups import cups_entries
from pseudo_labels.evaluation.sweep_images import image_stats_arrays, image_stats_path, write_image_stats
from pseudo_labels.instances.settings import SplitSettings


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
    """Highest PQ; ties go to the earlier entry (CC-only first), as in the reference; unscored entries last."""
    return max(entries, key=lambda e: -np.inf if e["PQ"] is None else e["PQ"])  # max keeps the first of equal keys


def build_record(meta: dict, grid: Sequence[SplitSettings], totals: sweep.SweepTotals, inputs: dict) -> dict:
    """The result JSON (the original's keys first), from the run's settings ``meta`` and summed statistics.

    ``meta`` holds split, k, eval_resolution, the subfolders, protocols, blur
    and dilation (as :func:`pseudo_labels.evaluation.sweep_run.run_sweep_split`
    keeps it); ``inputs`` the hashes of the files read.
    """
    protocols = meta["protocols"]
    results = []
    for protocol in protocols:
        if protocol == CUPS:
            results += cups_entries(grid, totals.tables, totals.per_image, totals.instances, meta["cups"])
        else:
            results += result_entries(grid, totals, protocol)
    best = {p: best_entry([e for e in results if e["protocol"] == p]) for p in protocols}
    return {
        "split": meta["split"], "k": meta["k"], "eval_resolution": meta["eval_resolution"],
        "depth_subdir": meta["depth_subdir"], "semantic_subdir": meta["semantic_subdir"],
        "protocols": list(protocols), "grid": [[c.tau, c.min_area] for c in grid],
        "depth_blur_sigma": meta["depth_blur_sigma"], "dilation_iters": meta["dilation_iters"],
        "n_images": totals.n_images, "results": results, "best": best, "inputs": inputs,
        **({"cups": {k: v for k, v in meta["cups"].items() if k != "city_order"}} if "cups" in meta else {}),
        # keys sorted, as a shard's meta comes back, so merged and single runs write the same bytes
        **({"sources": json.loads(json.dumps(meta["sources"], sort_keys=True))} if "sources" in meta else {}),
    }


def write_results(path: Path, meta: dict, grid: Sequence[SplitSettings], totals: sweep.SweepTotals,
                  inputs: dict) -> tuple[dict, Path]:
    """Write the result JSON at ``path`` and its per-image statistics beside it; returns (record, statistics file).

    ``totals`` must have been kept image by image (``keep_images``): the
    statistics file (:mod:`pseudo_labels.evaluation.sweep_images`) is what the
    report's bootstrap intervals resample.
    """
    record = build_record(meta, grid, totals, inputs)
    write_json(path, record)
    stats = write_image_stats(image_stats_path(path), totals.per_image, image_stats_arrays(totals, record["results"]))
    return record, stats


def grid_from(meta: dict) -> list[SplitSettings]:
    """The configurations a run's ``meta`` names (its grid, blur and dilation)."""
    return [SplitSettings(tau, area, meta["depth_blur_sigma"], meta["dilation_iters"]) for tau, area in meta["grid"]]


# --------------------------------------------------------------------------- tables


def format_table(entries: Sequence[dict], k: int, protocol: str, depth: str = "SPIdepth depth") -> str:
    """The reference's markdown summary table (one row per configuration); ``depth`` names the depth's source."""
    rule = "=" * 70
    lines = [rule, f"RESULTS: Parameter Sweep (k={k} overclustered + {depth}), {protocol} protocol", rule,
             "| grad_thresh | min_area | inst/img | PQ | PQ_stuff | PQ_things | SQ | RQ |",
             "|------------|----------|----------|-----|----------|-----------|------|------|"]
    def number(value: float | None, width: int) -> str:
        return f"{'n/a':>{width}}" if value is None else f"{value:{width}.1f}"

    for e in entries:
        tau = "CC-only" if e["mode"] == "cc_only" else f"{e['grad_threshold']:.2f}"
        lines.append(f"| {tau:>10} | {e['min_area']:>8} | {e['avg_instances']:8.1f} | {number(e['PQ'], 4)} | "
                     f"{number(e['PQ_stuff'], 8)} | {number(e['PQ_things'], 9)} | {number(e['SQ'], 4)} | "
                     f"{number(e['RQ'], 4)} |")
    return "\n".join(lines)


def format_best(entry: dict) -> str:
    """One line naming the best configuration of a protocol, then its per-class PQ."""
    where = "CC-only" if entry["mode"] == "cc_only" else f"grad_thresh={entry['grad_threshold']:.2f}, min_area={entry['min_area']}"
    if entry["PQ"] is None:
        return f"Best ({entry['protocol']}): none scored ({entry.get('error', 'no result')})"
    numbers = " ".join(f"{label}={'n/a' if entry[key] is None else format(entry[key], '.2f')}" for label, key in
                       (("PQ", "PQ"), ("PQ_st", "PQ_stuff"), ("PQ_th", "PQ_things"), ("SQ", "SQ"), ("RQ", "RQ")))
    lines = [f"Best ({entry['protocol']}): {where}: {numbers}"]
    rows = sorted(((v["PQ"], name, v) for name, v in entry["per_class"].items() if v["evaluated"]), reverse=True)
    for pq, name, v in rows:
        kind = "T" if v["thing"] else "S"
        lines.append(f"  [{kind}] {name:15s}: PQ={pq:5.1f} SQ={v['SQ']:5.1f} RQ={v['RQ']:5.1f} "
                     f"(TP={v['TP']} FP={v['FP']} FN={v['FN']})")
    return "\n".join(lines)


def depth_name(record: dict) -> str:
    """The depth as the sweep's tables name it: "SPIdepth depth", "synthetic depth", or its folder of unknown source."""
    source = record.get("sources", {}).get("depth")
    if source is None:
        return "no depth" if "sources" in record else "SPIdepth depth"  # older JSONs recorded no source
    if source["kind"] == "unknown":
        return f"depth of unknown source (`{record['depth_subdir']}`)"
    return source["name"] if source["name"].endswith("depth") else f"{source['name']} depth"


def print_sweep(record: dict, output: Path) -> None:
    """What the sweep prints when its JSON is written: a table per protocol, the best of each, where it went."""
    results = record["results"]
    depth = depth_name(record)
    for protocol in record["protocols"]:
        print(format_table([e for e in results if e["protocol"] == protocol], record["k"], protocol, depth))
    for protocol in record["protocols"]:
        print(format_best(record["best"][protocol]))
    print(f"Saved to: {output}")


# --------------------------------------------------------------------------- shards


def shard_path(output: Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` keeps its per-image statistics."""
    return output.with_name(f"{output.stem}.shard-{index}-of-{count}.npz")


def shard_note(output: Path, shard: Path, count: int) -> str:
    """What a shard run prints: where its file went and the merge command that gives ``output``."""
    pattern = shard_path(output, 0, count).name.replace("-0-of-", "-*-of-")
    return (f"Shard saved to: {shard}\nWhen every shard is done: python pseudo_labels/sweep_k50_spidepth.py merge "
            f"{pattern} --output {output}")


def write_shard(path: Path, meta: dict, index: int, totals: sweep.SweepTotals, semantic_lines: list[str],
                depth_lines: list[str]) -> Path:
    """Per-image statistics of a shard, so that merging sums images in the same order as one run.

    A shard may hold no image (more shards than images): its arrays are empty and it merges like any other.
    ``meta`` holds the run's settings and inputs (subfolders, centroid hash, sources), which a merge compares.
    """
    protocols = meta["protocols"]
    configs = len(meta["grid"])
    images = len(totals.images)
    stats = sweep.image_stats_array(totals.images, protocols) if images else \
        np.zeros((0, len(protocols), configs, 4, cs.NUM_CLASSES))
    return write_npz(path, {
        "meta": np.str_(json.dumps(meta, sort_keys=True)),
        "shard_index": np.int64(index),
        "keys": np.array(totals.per_image, dtype=np.str_).reshape(images),
        "stats": stats,
        "instances": np.array([r.instances for r in totals.images], np.int64).reshape(images, configs),
        "semantic_lines": np.array(semantic_lines, dtype=np.str_).reshape(len(semantic_lines)),
        "depth_lines": np.array(depth_lines, dtype=np.str_).reshape(len(depth_lines)),
    })


SHARD_FIX = "Re-run that shard of the sweep (the same flags, with its --num_shards/--shard_index)."
SHARD_MEMBERS = ("meta", "shard_index", "keys", "stats", "instances", "semantic_lines", "depth_lines")
"""The arrays :func:`write_shard` writes; :func:`read_shard` needs each of them."""


@dataclass(frozen=True)
class Shard:
    """One shard file as :func:`read_shard` returns it, checked: its run's settings and its images' statistics."""

    meta: dict
    index: int
    keys: np.ndarray
    stats: np.ndarray
    instances: np.ndarray
    semantic_lines: np.ndarray
    depth_lines: np.ndarray


def _meta_problem(meta: object) -> str | None:
    """What is wrong with a shard's settings (``meta``), or None: the fields a merge reads, with their types."""
    if not isinstance(meta, dict):
        return f"its 'meta' is JSON {type(meta).__name__}, not an object"
    strings = ("split", "depth_subdir", "semantic_subdir")
    for name in (*strings, "k", "num_shards", "dilation_iters", "depth_blur_sigma", "needs_depth", "protocols",
                 "grid", "eval_resolution", "centroids"):
        if name not in meta:
            return f"its 'meta' has no {name!r}"
    checks = [
        *((name, isinstance(meta[name], str), "a string") for name in strings),
        ("k", is_json_int(meta["k"]) and meta["k"] >= 1, "an integer >= 1"),
        ("num_shards", is_json_int(meta["num_shards"]) and meta["num_shards"] >= 1, "an integer >= 1"),
        ("dilation_iters", is_json_int(meta["dilation_iters"]) and meta["dilation_iters"] >= 0, "an integer >= 0"),
        ("depth_blur_sigma", is_json_number(meta["depth_blur_sigma"]) and meta["depth_blur_sigma"] >= 0, "a number >= 0"),
        ("needs_depth", isinstance(meta["needs_depth"], bool), "true or false"),
        ("protocols", isinstance(meta["protocols"], list) and bool(meta["protocols"])
         and all(isinstance(p, str) and p in pan.PROTOCOLS for p in meta["protocols"])
         and len(set(meta["protocols"])) == len(meta["protocols"]),
         f"a non-empty list of distinct protocols from {list(pan.PROTOCOLS)}"),
        ("grid", isinstance(meta["grid"], list) and bool(meta["grid"]) and all(
            isinstance(c, list) and len(c) == 2 and (c[0] is None or is_json_number(c[0]) and c[0] >= 0)
            and is_json_int(c[1]) and c[1] >= 0 for c in meta["grid"]),
         "a non-empty list of [tau or null, A_min] pairs"),
        ("eval_resolution", isinstance(meta["eval_resolution"], list) and len(meta["eval_resolution"]) == 2
         and all(is_json_int(n) and n >= 1 for n in meta["eval_resolution"]), "[height, width] in pixels"),
        ("centroids", isinstance(meta["centroids"], dict) and isinstance(meta["centroids"].get("path"), str)
         and isinstance(meta["centroids"].get("sha256"), str), "an object with 'path' and 'sha256' strings"),
        ("sources", isinstance(meta.get("sources", {}), dict), "an object"),
    ]
    for name, ok, expected in checks:
        if not ok:
            return f"its meta {name!r} is {meta.get(name)!r}, not {expected}"
    return None


def _member_problem(name: str, array: np.ndarray, kinds: str, shape: tuple[int | None, ...]) -> str | None:
    """What is wrong with array ``name`` (dtype kind in ``kinds``, ``shape`` with None for any length), or None."""
    if array.dtype.kind not in kinds or array.ndim != len(shape) or any(
            want is not None and have != want for have, want in zip(array.shape, shape)):
        words = {"U": "strings", "f": "floats", "iu": "integers"}[kinds]
        wanted = "one value" if not shape else "shape (" + ", ".join("n" if n is None else str(n) for n in shape) + ")"
        return f"its {name!r} is {array.dtype} of shape {array.shape}; the sweep writes {words}, {wanted}"
    return None


def read_shard(path: Path) -> Shard:
    """Read and check one shard file of :func:`write_shard`; anything else is an InputError naming the file.

    Every member must be there with the writer's dtype and shape, the shapes
    must agree with each other and with the settings in ``meta`` (a JSON
    object holding the fields a merge reads, with their types), and the
    statistics must be finite, non-negative counts.
    """
    arrays = read_npz(path, SHARD_FIX)
    missing = [name for name in SHARD_MEMBERS if name not in arrays]
    if missing:
        raise InputError(f"{path}: not a sweep shard of this toolkit: no {missing} (members: {sorted(arrays)}). "
                         f"{SHARD_FIX}")
    problem = _member_problem("meta", arrays["meta"], "U", ()) or _member_problem(
        "shard_index", arrays["shard_index"], "iu", ())
    if problem:
        raise InputError(f"{path}: not a sweep shard of this toolkit: {problem}. {SHARD_FIX}")
    try:
        meta = json.loads(str(arrays["meta"]))
    except ValueError as exc:
        raise InputError(f"{path}: its 'meta' is not JSON ({exc}). {SHARD_FIX}") from None
    problem = _meta_problem(meta)
    index = int(arrays["shard_index"])
    if problem is None and not 0 <= index < meta["num_shards"]:
        problem = f"its shard_index {index} is not in 0..{meta['num_shards'] - 1}"
    if problem is None:
        keys = arrays["keys"]
        images = len(keys) if keys.ndim == 1 else None
        protocols, configs = len(meta["protocols"]), len(meta["grid"])
        problem = (_member_problem("keys", keys, "U", (None,))
                   or _member_problem("stats", arrays["stats"], "f", (images, protocols, configs, 4, cs.NUM_CLASSES))
                   or _member_problem("instances", arrays["instances"], "iu", (images, configs))
                   or _member_problem("semantic_lines", arrays["semantic_lines"], "U", (images,))
                   or _member_problem("depth_lines", arrays["depth_lines"], "U",
                                      (images if meta["needs_depth"] else 0,)))
    if problem is None:
        stats = arrays["stats"]
        if not np.isfinite(stats).all() or (stats < 0).any() or (stats[:, :, :, :3] % 1 != 0).any():
            problem = "its 'stats' hold values that are not counts (negative, fractional or not finite)"
        elif (arrays["instances"] < 0).any():
            problem = "its 'instances' hold negative counts"
    if problem:
        raise InputError(f"{path}: not a sweep shard of this toolkit: {problem}. {SHARD_FIX}")
    return Shard(meta, index, arrays["keys"], arrays["stats"], arrays["instances"], arrays["semantic_lines"],
                 arrays["depth_lines"])


def merge_shards(shards: Sequence[Path], output: Path | None = None) -> tuple[dict, Path]:
    """Write the JSON a single run over all shards' images writes; returns (record, path).

    Every shard 0..n-1 of one run is needed once: the same settings and
    inputs (subfolders, centroid hash, sources), and images that are the
    deterministic partition of one list (:func:`~pseudo_labels.core.parallel.check_partition`),
    each file as :func:`read_shard` checks it; anything else is an InputError
    naming the files. ``output`` None: the shards' name without the shard suffix.
    """
    if not shards:
        raise InputError("no shard files given: pass every .shard-i-of-n.npz file of one sweep.")
    parts = [read_shard(Path(path)) for path in shards]
    check_same_settings([part.meta for part in parts], shards, "sweep settings or inputs")
    meta = parts[0].meta
    indices = [part.index for part in parts]
    check_all_shards(indices, meta["num_shards"], shards)
    check_partition([[str(k) for k in part.keys] for part in parts], indices, meta["num_shards"], shards)
    keys = np.concatenate([part.keys for part in parts])
    order = np.argsort(keys, kind="stable")
    stats = np.concatenate([part.stats for part in parts])[order]
    instances = np.concatenate([part.instances for part in parts])[order]
    grid = grid_from(meta)
    params = sweep.SweepParams(tuple(grid), tuple(meta["protocols"]))
    totals = sweep.SweepTotals.empty(params, keep_images=True)
    for key, result in zip(keys[order], sweep.results_from_array(stats, instances, meta["protocols"])):
        totals.add(str(key), result)
    semantic_lines = np.concatenate([part.semantic_lines for part in parts])[order]
    inputs = {"semantic": {"count": len(keys), "sha256": sha256_of_lines(str(x) for x in semantic_lines)},
              "centroids": meta["centroids"]}
    if meta["needs_depth"]:
        depth_lines = np.concatenate([part.depth_lines for part in parts])[order]
        inputs["depth"] = {"count": len(keys), "sha256": sha256_of_lines(str(x) for x in depth_lines)}
    path = prepare_output_file(output or unsharded_path(shards[0], ".json"), inputs=shards)
    record, _ = write_results(path, meta, grid, totals, inputs)
    return record, path
