"""The two label-free thing/stuff rules side by side on one synthetic split: which clusters, how many instances, PQ.

    python -m pseudo_labels synthetic --root S --split val --num_images 8 --with_prediction --k 80
    .venv/bin/python benchmarks/bench_stuff_things_rules.py --root S [--split val --k 80]

Runs the real commands on ``S``:

* the original rule, ``classify_stuff_things.py --semantic_dir ...`` (depth-split
  ratio, its default tau 0.05), with ``--n_things`` 8 (its default) and 12 (its
  docstring's recommendation);
* today's rule, ``classify_stuff_things.py --cityscapes_root ...`` (three
  thresholds, tau 0.20);

then, for each thing set, ``generate_depth_guided_instances.py --stuff_things``
split per thing cluster (the original chain) and with
``--merge_thing_clusters`` (today's label-free split), and counts the
instances. PQ (both protocols) comes from the sweep's evaluation of the same
splits (``pseudo_labels.evaluation.thing_sets.compare_thing_sets``: clusters named by the
centroid file's majority-vote map, GT read only here). Prints a Markdown table;
nothing here is asserted by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path


from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import stuff_things as classify
from pseudo_labels.evaluation.thing_sets import compare_thing_sets
from pseudo_labels.cli import instances as gen
from pseudo_labels.formats.centroids import load_cluster_to_class, thing_clusters
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.units import semantic_and_depth


def thing_sets(root: Path, split: str, k: int, work: Path) -> dict[str, list[int]]:
    """Thing cluster ids of each rule, from the real commands (their default tau each)."""
    semantic, depth = root / f"pseudo_semantic_raw_k{k}" / split, root / cs.DEPTH_SUBDIR / split
    found = {}
    for n_things in (8, 12):
        output = work / f"original_n{n_things}.json"
        with contextlib.redirect_stdout(io.StringIO()):
            classify.main(["--semantic_dir", str(semantic), "--depth_dir", str(depth), "--output_path", str(output),
                           "--num_classes", str(k), "--n_things", str(n_things)])
        found[f"original, --n_things {n_things}"] = json.loads(output.read_text())["thing_ids"]
    output = work / "today.json"
    classify.main(["--cityscapes_root", str(root), "--split", split, "--semantic_subdir", f"pseudo_semantic_raw_k{k}",
                   "--num_clusters", str(k), "--output", str(output)])
    found["today (three thresholds)"] = json.loads(output.read_text())["thing_ids"]
    return found


def instance_count(root: Path, split: str, k: int, things: list[int], merge: bool, tau: float, min_area: int,
                   work: Path) -> int:
    """Instances ``generate_depth_guided_instances.py`` writes for one thing set."""
    name = f"{'merged' if merge else 'per_cluster'}_{abs(hash(tuple(things)))}"
    (work / f"{name}.json").write_text(json.dumps({"thing_ids": things}))
    out = work / name
    gen.main(["--semantic_dir", str(root / f"pseudo_semantic_raw_k{k}" / split), "--depth_dir",
              str(root / cs.DEPTH_SUBDIR / split), "--output_dir", str(out), "--stuff_things",
              str(work / f"{name}.json"), "--grad_threshold", str(tau), "--min_area", str(min_area),
              *(["--merge_thing_clusters"] if merge else [])])
    return int(json.loads((out / "stats.json").read_text())["total_instances"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="a synthetic root (see the module docstring)")
    parser.add_argument("--split", default="val")
    parser.add_argument("--k", type=int, default=80)
    parser.add_argument("--grad_threshold", type=float, default=0.20, help="tau of the instance split")
    parser.add_argument("--min_area", type=int, default=1000, help="A_min of the instance split")
    args = parser.parse_args()
    semantic_subdir = f"pseudo_semantic_raw_k{args.k}"
    table = load_cluster_to_class(args.root / semantic_subdir / "kmeans_centroids.npz")
    gt_thing_clusters = set(thing_clusters(table))
    files, _, _ = semantic_and_depth(args.root, semantic_subdir, cs.DEPTH_SUBDIR, args.split)
    depth_dir = args.root / cs.DEPTH_SUBDIR
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = thing_sets(args.root, args.split, args.k, work)
        sets["GT-derived thing clusters (reads GT)"] = sorted(gt_thing_clusters)
        for rule, things in sets.items():
            scores = compare_thing_sets(args.root, args.split, files, depth_dir, table, things,
                                        SplitSettings(args.grad_threshold, args.min_area))
            counts = [instance_count(args.root, args.split, args.k, things, merge, args.grad_threshold,
                                     args.min_area, work) for merge in (False, True)]
            rows.append((rule, things, counts, scores))
    print(f"{len(files)} {args.split} images, k={args.k}, instances at tau {args.grad_threshold}, "
          f"A_min {args.min_area}; {len(gt_thing_clusters)} clusters map to thing classes\n")
    print("| rule | thing clusters | of them GT-derived | split | instances | PQ (ref) | PQ_th (ref) | "
          "PQ (official) | PQ_th (official) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for rule, things, counts, scores in rows:
        hits = len(set(things) & gt_thing_clusters)
        for split_name, key, count in (("per cluster (original)", "label_free_per_cluster", counts[0]),
                                       ("merged (today)", "label_free", counts[1])):
            ref, off = scores[f"{key}/reference"], scores[f"{key}/official"]
            print(f"| {rule} | {len(things)} | {hits} | {split_name} | {count} | {ref['PQ']:.2f} | "
                  f"{ref['PQ_things']:.2f} | {off['PQ']:.2f} | {off['PQ_things']:.2f} |")
    ref, off = rows[0][3]["gt_things/reference"], rows[0][3]["gt_things/official"]
    print(f"| GT-derived thing classes, split per class (evaluation protocol) | | | per class | | {ref['PQ']:.2f} | "
          f"{ref['PQ_things']:.2f} | {off['PQ']:.2f} | {off['PQ_things']:.2f} |")


if __name__ == "__main__":
    main()
