"""CUPS-protocol evaluator: speed against the literal transcription (and CUPS' own metric when given), and memory.

    .venv/bin/python benchmarks/bench_cups_protocol.py [--num_images 24] [--reference_images 3] \\
        [--memory_images 50 500] [--root outputs/bench_sweep] \\
        [--cups_python /path/to/side-venv/bin/python --cups_repo /path/to/cups]

Uses the benchmark images of ``bench_sweep.py`` (24 synthetic val images, GT
1024x2048, k=80; generated when absent) and exports them for CUPS at
1024x2048 (tau 0.20, A_min 1000). Prints:

1. seconds per image at 1024x2048: ``evaluate_export`` (one process and the
   default workers) against ``evaluation/cups_reference.py`` (pixel maps,
   colour dictionaries, torchmetrics' loop), which must agree; with
   ``--cups_python``/``--cups_repo``, also CUPS' own ``PanopticQualitySemanticMatching``
   run by ``benchmarks/cups_reference.py`` in that interpreter (torch 2.1.2,
   torchmetrics 1.3.1), compared key by key with ``compare_cups_json.py``;
2. peak RSS of one evaluation process (one worker) over N images, the export
   repeated by symbolic links under new names, so the memory for 500
   images is measured without generating 500 images.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation.cups_reference import reference_score
from pseudo_labels.evaluation.evaluate_cups_protocol import evaluate_export
from pseudo_labels.export.cups_export import export_split
from pseudo_labels.formats import cups_labels
from pseudo_labels.instances.settings import SplitSettings

from bench_sweep import SEMANTIC, dataset  # noqa: E402  (benchmarks/ is the script's folder)

EXPORT = "bench_cups_full"
HERE = Path(__file__).resolve().parent


def export(root: Path) -> tuple[Path, float]:
    """The 1024x2048 CUPS export of the benchmark images (made once) and its suggested threshold."""
    folder = root / EXPORT
    if not (folder / "stats.json").is_file():
        export_split(root, "val", SEMANTIC, EXPORT, mode="depth", split_settings=SplitSettings(0.20, 1000),
                     centroids_path=root / SEMANTIC / "kmeans_centroids.npz", target=(1024, 2048), overwrite=True)
    threshold = json.loads((folder / "stats.json").read_text())["cups_thing_stuff_threshold"]["suggested"]
    return folder, threshold


def reference_seconds(root: Path, folder: Path, count: int, threshold: float) -> tuple[float, dict]:
    """The literal transcription over the first ``count`` images (CUPS' order), and its record."""
    inside, everywhere, _ = cups_labels.read_distributions(folder)
    things, stuffs = cups_labels.pseudo_class_split(inside, everywhere, threshold)
    start = time.perf_counter()
    images = []
    for key, path in sorted(cs.instance_ids_paths(root, "val").items())[:count]:
        stem = folder / f"{key.split('/')[1]}_leftImg8bit"
        images.append((np.array(Image.open(f"{stem}_semantic.png")), np.array(Image.open(f"{stem}_instance.png")),
                       *cp.ground_truth(np.array(Image.open(path)).astype(np.int64))))
    record = reference_score(images, things, stuffs)
    return (time.perf_counter() - start) / count, record


def replicated(root: Path, folder: Path, count: int) -> Path:
    """A root whose val split and export hold ``count`` images: the benchmark's, linked under new names."""
    target = root / f"bench_cups_replicated_{count}"
    if (target / "done").is_file():
        return target
    sources = sorted(cs.instance_ids_paths(root, "val").items())
    for index in range(count):
        key, gt = sources[index % len(sources)]
        stem = f"rep{index // 1000:03d}_{index % 1000:06d}_000019"
        city = target / "gtFine" / "val" / f"rep{index // 1000:03d}"
        city.mkdir(parents=True, exist_ok=True)
        (city / f"{stem}{cs.INSTANCE_IDS_SUFFIX}").symlink_to(gt.resolve())
        (city / f"{stem}{cs.LABEL_IDS_SUFFIX}").symlink_to(Path(str(gt).replace(cs.INSTANCE_IDS_SUFFIX,
                                                                               cs.LABEL_IDS_SUFFIX)).resolve())
        out = target / EXPORT
        out.mkdir(parents=True, exist_ok=True)
        source = folder / f"{key.split('/')[1]}_leftImg8bit"
        for suffix in ("_semantic.png", "_instance.png", ".pt"):
            (out / f"{stem}_leftImg8bit{suffix}").symlink_to(Path(f"{source}{suffix}").resolve())
    (target / "done").write_text("ok")
    return target


def peak_rss_mb(root: Path, threshold: float) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one process that evaluates ``root``'s export with one worker."""
    code = (f"import resource, time; from pseudo_labels.evaluation.evaluate_cups_protocol import evaluate_export\n"
            f"start = time.perf_counter()\n"
            f"evaluate_export('{root}', '{root / EXPORT}', threshold={threshold!r}, workers=1)\n"
            f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - start)")
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    rss, seconds = output.split()[-2:]
    return float(rss), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/bench_sweep"))
    parser.add_argument("--num_images", type=int, default=24)
    parser.add_argument("--reference_images", type=int, default=3, help="images the slow transcription scores")
    parser.add_argument("--memory_images", type=int, nargs="*", default=[50, 500])
    parser.add_argument("--cups_python", type=Path, default=None, help="interpreter with torch 2.1.2, torchmetrics 1.3.1")
    parser.add_argument("--cups_repo", type=Path, default=None, help="a visinf/cups checkout")
    args = parser.parse_args()
    dataset(args.root, args.num_images)
    folder, threshold = export(args.root)
    rows = []
    for workers in (1, 0):
        start = time.perf_counter()
        ours = evaluate_export(args.root, folder, threshold=threshold, workers=workers or None)
        per_image = (time.perf_counter() - start) / ours["images"]
        rows.append((f"ours, {'1 process' if workers == 1 else 'default workers'}", per_image))
    few = replicated(args.root, folder, args.reference_images)
    slow, record = reference_seconds(few, few / EXPORT, args.reference_images, threshold)
    rows.append((f"literal transcription ({args.reference_images} images)", slow))
    check = evaluate_export(few, few / EXPORT, threshold=threshold, workers=1)
    agree = check["assignment_pq"] == record["assignment_pq"] and abs(check["pq"] - record["pq"]) < 1e-9 and \
        all(check["per_class"][n]["tp"] == r["tp"] and check["per_class"][n]["fp"] == r["fp"]
            for n, r in record["per_class"].items())
    print(f"ours and the literal transcription agree on {args.reference_images} images: {agree}")
    if not agree:
        raise SystemExit(1)
    if args.cups_python and args.cups_repo:
        out = args.root / "bench_cups_reference.json"
        subprocess.run([str(args.cups_python), str(HERE / "cups_reference.py"), "--cityscapes_root", str(args.root),
                        "--export_dir", str(folder), "--thing_stuff_threshold", repr(threshold), "--output", str(out)],
                       check=True, env={"PYTHONPATH": str(args.cups_repo), "PATH": "/usr/bin:/bin"})
        cups = json.loads(out.read_text())
        rows.append(("CUPS' PanopticQualitySemanticMatching (torchmetrics 1.3.1)", cups["seconds_per_image"]))
        ours_path = args.root / "bench_cups_ours.json"
        ours_path.write_text(json.dumps(ours))
        subprocess.run([sys.executable, str(HERE / "compare_cups_json.py"), str(ours_path), str(out)], check=True)
    print(f"\nCUPS protocol at 1024x2048, {ours['images']} synthetic images (k=80), PQ {ours['pq']:.4f}\n")
    print("| evaluator | s / image | ours (1 process) is faster by |")
    print("|---|---|---|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.3f} | {seconds / rows[0][1]:.1f}x |")
    if args.memory_images:
        print("\n| images (linked copies) | peak RSS of the evaluating process (MB) | s / image |")
        print("|---|---|---|")
        for count in args.memory_images:
            rss, seconds = peak_rss_mb(replicated(args.root, folder, count), threshold)
            print(f"| {count} | {rss:.0f} | {seconds / count:.3f} |")
    print(f"\n(this process: peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
