"""The whole pipeline on a synthetic Cityscapes, in a few minutes on a CPU, with no weights.

    python -m pseudo_labels demo [--out outputs/demo] [--num_images 8]

Steps: synthetic train + val scenes; overclustering (k-means, majority vote on
val) of *weight-free stand-in features* -- per pixel colour, local colour
spread and height in the image, computed on the same 322-short-side working
grid and pooled the same way as the CAUSE features -- unless
``--checkpoint_dir`` holds the real CAUSE and SPIdepth files, in which case the
real networks run; the synthetic depth as depth (or SPIdepth); the sweep under
both protocols; the label-free thing/stuff decision; the CUPS export of the
train split; pictures of the 4 worst val images and a report (Markdown and HTML) that
says the data is synthetic. It ends by printing the best configuration
and where everything is.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path


from pseudo_labels.data import cityscapes as cs
from pseudo_labels.report import markdown as report
from pseudo_labels.data import synthetic
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.depth.maps import DepthOptions, write_depth_maps
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.sweep_record import print_sweep
from pseudo_labels.evaluation.sweep_run import run_sweep_split
from pseudo_labels.export.cups_export import export_split, threshold_report, train_command
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.instances.label_free import run_label_free
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.report.picture_set import Selection, draw_pictures, picture_units, semantic_files
from pseudo_labels.report.pictures import Settings
from pseudo_labels.semantics.overclustered import SemanticsOptions, write_semantic_labels
from pseudo_labels.semantics.stand_in import stand_in_semantics

log = logging.getLogger("demo")

DEFAULT_OUT = Path("outputs/demo")
DEFAULT_SIZE = (512, 1024)






def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="everything is written here")
    parser.add_argument("--num_images", type=int, default=8, help="images per split")
    parser.add_argument("--size", type=int, nargs=2, default=DEFAULT_SIZE, metavar=("H", "W"), help="image size")
    parser.add_argument("--k", type=int, default=40, help="clusters")
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help="run the real networks: CAUSE files here, SPIdepth files in its spidepth/ subfolder")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.out
    for index, split in enumerate(("val", "train")):
        synthetic.write_dataset(root, split, args.num_images, args.seed + index, tuple(args.size))
    subdir = f"pseudo_semantic_raw_k{args.k}"
    centroids = root / subdir / "kmeans_centroids.npz"
    if args.checkpoint_dir:
        for split, load_centroids in (("val", None), ("train", centroids)):
            write_semantic_labels(SemanticsOptions(cityscapes_root=root, split=split, k=args.k, skip_crf=True,
                                                   raw_clusters=True, output_subdir=subdir,
                                                   checkpoint_dir=args.checkpoint_dir, load_centroids=load_centroids))
        for path in (root / cs.DEPTH_SUBDIR).rglob("*.npy"):
            path.unlink()  # replace the synthetic depth by the network's
        write_depth_maps(DepthOptions(cityscapes_root=root, split="both", checkpoint_dir=args.checkpoint_dir / "spidepth"))
    else:
        stand_in_semantics(root, args.k, ("val", "train"))
    sweep = run_sweep_split(root, "val", semantic_subdir=subdir, output=root / f"sweep_k{args.k}_spidepth_val.json")
    print_sweep(sweep.record, sweep.output)
    sweep_json, record = sweep.output, sweep.record
    run_label_free(root, "train", subdir, num_clusters=args.k)
    best = record["best"]["reference"]
    # a CC-only best would export without depth: the demo shows the depth-guided labels at the published setting then
    settings = SplitSettings() if best["mode"] == "cc_only" else SplitSettings(best["grad_threshold"], best["min_area"])
    export = export_split(root, "train", subdir, mode="depth", split_settings=settings, centroids_path=centroids)
    for level, line in threshold_report(export.interval):
        log.log(level, line)
    print(train_command(root, export))
    files = semantic_files(root, subdir, "val")
    units = picture_units(root, subdir, int(read_label_png(next(iter(files.values()))).max()))
    draw_pictures(root, "val", subdir, cs.DEPTH_SUBDIR, files, Settings(units, settings, pan.REFERENCE),
                  Selection(how="worst", limit=4), root / "pictures")
    features_used = "CAUSE + SPIdepth networks" if args.checkpoint_dir else "weight-free stand-in features, synthetic depth"
    note = (f"Made by `python -m pseudo_labels demo` with k = {args.k} clusters (the demo's default is 40; the "
            f"published runs use k = 80), {args.num_images} images per split at {args.size[0]}x{args.size[1]}, "
            f"{features_used}.")
    report_path = report.write_report(sweep_json, root / "report.md", pictures=root / "pictures", html=True, note=note)
    print()
    for protocol in record["protocols"]:
        b = record["best"][protocol]
        where = "CC-only" if b["mode"] == "cc_only" else f"tau {b['grad_threshold']:.2f}, A_min {b['min_area']}"
        print(f"best ({protocol} protocol): {where}: PQ {b['PQ']:.2f} (stuff {b['PQ_stuff']:.2f}, things {b['PQ_things']:.2f})")
    print(f"({features_used}; synthetic data, so these numbers say nothing about Cityscapes)")
    print(f"data and pseudo-labels: {root}\nsweep: {sweep_json}\nreport: {report_path} (and "
          f"{report_path.with_suffix('.html')})\n"
          f"pictures: {root / 'pictures'}\nCUPS labels: {root / 'cups_pseudo_labels'}")
    return 0
