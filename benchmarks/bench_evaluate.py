"""Official evaluator speed: ours against cityscapesscripts' ``evaluatePanoptic`` on the same files.

    .venv/bin/python benchmarks/bench_evaluate.py [--num_images 24] [--root outputs/bench_sweep]

Uses the benchmark images of ``bench_sweep.py`` (generated when absent): writes
depth-guided panoptic predictions (tau 0.20, A_min 1000, full 1024x2048) in
Cityscapes panoptic format, converts the GT with ``createPanopticImgs``
(cityscapesscripts needs it; ours reads gtFine directly), then times both
evaluators with the same number of processes and checks that PQ, SQ and RQ
agree to 1e-9. Prints two tables: the evaluators alone on the same files, and
from gtFine (conversion included).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import time
from pathlib import Path

from pseudo_labels.instances import splitting as inst
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import sweep
from pseudo_labels.export.cityscapes_panoptic import read_prediction, write_predictions
from pseudo_labels.evaluation.official import evaluate
from pseudo_labels.formats.semantic import load_semantic
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.centroids import load_cluster_to_class

from bench_sweep import EVAL_SIZE, SEMANTIC, dataset  # noqa: E402  (benchmarks/ is the script's folder)


def predictions(root: Path, files: list[sweep.ImageFiles], out: Path) -> tuple[Path, Path]:
    """Full-resolution panoptic predictions of the benchmark images."""
    table = load_cluster_to_class(root / SEMANTIC / "kmeans_centroids.npz")
    items = []
    for f in files:
        semantic = load_semantic(f.semantic, table, EVAL_SIZE)
        found = inst.split_instances(semantic, inst.depth_gradient(load_depth(f.depth, EVAL_SIZE)), 0.20, 1000)
        segments = pan.predicted_segments(semantic, found, 1, 1)
        full = segments.resized((1024, 2048))
        items.append((f.key.split("/")[1], full))
    write_predictions(out / "pred", out / "pred.json", items)
    return out / "pred.json", out / "pred"


def main() -> None:
    from cityscapesscripts.evaluation.evalPanopticSemanticLabeling import evaluatePanoptic
    from cityscapesscripts.preparation.createPanopticImgs import convert2panoptic

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path("outputs/bench_sweep"))
    parser.add_argument("--num_images", type=int, default=24)
    args = parser.parse_args()
    files = dataset(args.root, args.num_images)
    work = args.root / "bench_evaluate"
    pred_json, pred_dir = predictions(args.root, files, work)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        convert2panoptic(str(args.root / "gtFine"), str(work), setNames=["val"])
    convert_s = time.perf_counter() - start
    processes = multiprocessing.cpu_count()  # evaluatePanoptic always uses every CPU

    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = evaluatePanoptic(str(work / "cityscapes_panoptic_val.json"), str(work / "cityscapes_panoptic_val"),
                                  str(pred_json), str(pred_dir), str(work / "results.json"))
    theirs_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = evaluate(args.root, "val", pred_json, pred_dir, workers=processes, show_progress=False,
                    read_prediction=read_prediction)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    evaluate(args.root, "val", pred_json, pred_dir, workers=1, show_progress=False, read_prediction=read_prediction)
    ours_one_s = time.perf_counter() - start

    diff = max(abs(ours[m.upper() + s] / 100 - theirs[n][m]) for n, s in (("All", ""), ("Things", "_things"),
                                                                           ("Stuff", "_stuff")) for m in ("pq", "sq", "rq"))
    n = len(files)
    print(f"{n} images at 1024x2048, official protocol; PQ {ours['PQ']:.2f}; "
          f"largest |ours - cityscapesscripts| over PQ/SQ/RQ x All/Things/Stuff: {diff:.1e}")
    print("| evaluator | processes | total s | s / image | speed-up |")
    print("|---|---|---|---|---|")
    print(f"| cityscapesscripts evaluatePanoptic | {processes} | {theirs_s:.2f} | {theirs_s / n:.3f} | 1.0x |")
    print(f"| pseudo_labels evaluate_panoptic | {processes} | {ours_s:.2f} | {ours_s / n:.3f} | {theirs_s / ours_s:.1f}x |")
    print(f"| pseudo_labels evaluate_panoptic | 1 | {ours_one_s:.2f} | {ours_one_s / n:.3f} | {theirs_s / ours_one_s:.1f}x |")
    print()
    print("From gtFine (what a user runs): cityscapesscripts needs createPanopticImgs first, ours reads gtFine directly.")
    print("| pipeline | processes | total s | speed-up |")
    print("|---|---|---|---|")
    both_s = convert_s + theirs_s
    print(f"| createPanopticImgs (1 process) + evaluatePanoptic | {processes} | {both_s:.2f} | 1.0x |")
    print(f"| pseudo_labels evaluate_panoptic | {processes} | {ours_s:.2f} | {both_s / ours_s:.1f}x |")


if __name__ == "__main__":
    main()
