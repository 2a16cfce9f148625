"""The whole pipeline on a synthetic Cityscapes, in a few minutes on a CPU, with no weights.

    python -m pseudo_labels demo [--out outputs/demo] [--num_images 8]

It writes synthetic train + val scenes (with their depth) and runs the shipped
``demo.yaml`` config on them (``pseudo-labels run --config demo`` runs the same
on any root): overclustering (k-means, majority vote on val) of *weight-free
stand-in features* -- per pixel colour, local colour spread and height in the
image, computed on the same 322-short-side working grid and pooled the same way
as the CAUSE features -- unless ``--checkpoint_dir`` holds the real CAUSE and
SPIdepth files, in which case the real networks run (and the depth stage with
them); the sweep under both protocols; the label-free thing/stuff decision; the
CUPS export of the train split *through that decision* at the sweep's best; pictures
of the 4 worst val images and a report (Markdown and HTML) that says the data is
synthetic. It ends by printing the best configuration and where everything is.

``--layout folder`` runs the pipeline on a user's kind of data instead: a folder
of synthetic street photos (nested, mixed sizes, JPEG and PNG, a portrait and a
greyscale one) with no ground truth anywhere: a label-free fit, the label-free
thing/stuff decision, the CUPS export of every photo at its own size (CUPS'
image folder made as links, its training command printed) and COCO panoptic
labels (one category per cluster). No sweep and
no report: there is nothing to score against.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import CLUSTERS, POSITIVE_INT, RANDOM_SEED
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data import synthetic
from pseudo_labels.export import cups
from pseudo_labels.pipeline.config import load_config, resolve, write_config
from pseudo_labels.pipeline.schema import RunConfig
from pseudo_labels.pipeline.stages import run_stage
from pseudo_labels.pipeline.stages import report as report_stage

log = logging.getLogger("demo")

DEFAULT_OUT = Path("outputs/demo")
PHOTO_FOLDER = "photos"
"""Where ``--layout folder`` writes its photos, below ``--out``."""
DEFAULT_SIZE = (512, 1024)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="everything is written here")
    parser.add_argument("--num_images", type=POSITIVE_INT, default=8, help="images per split")
    parser.add_argument("--size", type=POSITIVE_INT, nargs=2, default=DEFAULT_SIZE, metavar=("H", "W"),
                        help="image size")
    parser.add_argument("--k", type=CLUSTERS, default=40, help="clusters")
    parser.add_argument("--seed", type=RANDOM_SEED, default=0, help="synthetic data seed")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help="run the real networks: CAUSE files here, SPIdepth files in its spidepth/ subfolder")
    parser.add_argument("--layout", choices=("cityscapes", "folder"), default="cityscapes",
                        help="cityscapes: synthetic Cityscapes with GT, swept and reported; folder: a folder of "
                             "synthetic photos of mixed sizes (--size ignored) labelled without any GT, exported "
                             "for CUPS")
    return parser


def demo_config(args: argparse.Namespace) -> RunConfig:
    """``demo.yaml`` with the demo's flags: k, the real networks with ``--checkpoint_dir``, the report in ``--out``."""
    root: Path = args.out
    overrides = [f"semantics.k={args.k}"]
    if args.checkpoint_dir:
        overrides += ["semantics.features=cause", "stages=[semantics,depth,stuff_things,sweep,cups,report]"]
    if args.layout == "folder":  # no GT: fit label-free, decide things label-free, export for CUPS
        overrides += ["layout=folder", "semantics.splits=[train]", "instances.from_sweep=null",
                      "stages=[semantics,stuff_things,cups,panoptic]" if not args.checkpoint_dir else
                      "stages=[semantics,depth,stuff_things,cups,panoptic]"]
        overrides += ["semantics.label_free=true", "depth.splits=[train]"] if args.checkpoint_dir else []
    config = load_config("demo", overrides, root)
    if args.layout == "folder":
        config.image_root = str(root / PHOTO_FOLDER)
    config.run_dir, config.report.out = str(root / "runs" / "demo"), str(root / "report.md")
    if args.checkpoint_dir:  # set as values, not override text: any path goes
        config.semantics.checkpoint_dir = str(args.checkpoint_dir)
        config.depth.checkpoint_dir = str(args.checkpoint_dir / "spidepth")
    return resolve(config)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.layout == "folder":
        return folder_demo(args)
    root: Path = args.out
    for index, split in enumerate(("val", "train")):
        synthetic.write_dataset(root, split, args.num_images, args.seed + index, tuple(args.size))
    if args.checkpoint_dir:
        for path in (root / cs.DEPTH_SUBDIR).rglob("*.npy"):
            path.unlink()  # replace the synthetic depth by the network's
    config = demo_config(args)
    write_config(config, Path(config.run_dir) / "config.yaml")
    note = (f"Made by `python -m pseudo_labels demo` with k = {args.k} clusters (the demo's default is 40; the "
            f"published runs use k = 80), {args.num_images} images per split at {args.size[0]}x{args.size[1]}.")
    for stage in config.stages:
        print(report_stage(config, note=note) if stage == "report" else run_stage(config, stage), flush=True)
    record = json.loads(Path(config.sweep.output).read_text())
    report_path = Path(config.report.out)
    print()
    for protocol in record["protocols"]:
        b = record["best"][protocol]
        where = "CC-only" if b["mode"] == "cc_only" else f"tau {b['grad_threshold']:.2f}, A_min {b['min_area']}"
        print(f"best ({protocol} protocol): {where}: PQ {b['PQ']:.2f} (stuff {b['PQ_stuff']:.2f}, things {b['PQ_things']:.2f})")
    sources = record["sources"]
    made_by = "; ".join(f"{what}: {sources[what]['text']}" for what in ("semantics", "depth") if what in sources)
    print(f"({made_by}; synthetic data, so these numbers say nothing about Cityscapes)")
    print(f"data and pseudo-labels: {root}\nsweep: {config.sweep.output}\nreport: {report_path} (and "
          f"{report_path.with_suffix('.html')})\n"
          f"pictures: {report_path.parent / 'pictures'}\nCUPS labels (things from the label-free decision): "
          f"{root / config.cups.subdir}\nconfig: {Path(config.run_dir) / 'config.yaml'} "
          f"(pseudo-labels run --config {Path(config.run_dir) / 'config.yaml'} replays it)")
    return 0


def folder_demo(args: argparse.Namespace) -> int:
    """``--layout folder``: synthetic photos labelled with no ground truth and exported for CUPS (see the module)."""
    root: Path = args.out
    photos = synthetic.write_photo_folder(root / PHOTO_FOLDER, root, "train", args.num_images, args.seed)
    if args.checkpoint_dir:
        for path in (root / cs.DEPTH_SUBDIR).rglob("*.npy"):
            path.unlink()  # replace the synthetic depth by the network's
    config = demo_config(args)
    write_config(config, Path(config.run_dir) / "config.yaml")
    for stage in config.stages:
        print(run_stage(config, stage), flush=True)
    cups_dir = root / config.cups.subdir
    stats = json.loads((cups_dir / "stats.json").read_text())
    made_by = "the real networks" if args.checkpoint_dir else "stand-in features and synthetic depth"
    crop = stats["cups_crop_resolution"]
    command = cups.train_command(root, cups_dir, stats["cups_thing_stuff_threshold"]["suggested"],
                                 stats["cups_data_scale"], tuple(crop) if crop else None)
    print(f"\n{len(photos)} photos of mixed sizes under {root / PHOTO_FOLDER}, labelled with {made_by} and no "
          f"ground truth (synthetic data: the labels say nothing about real photos)\n"
          f"CUPS labels: {cups_dir} ({stats['instances']} instances; each image at its size x 0.625)\n"
          f"CUPS images (links to the photos): {root / cups.IMAGE_FOLDER}\n"
          f"COCO panoptic labels (a category per cluster): {root / config.panoptic.subdir}\n"
          f"config: {Path(config.run_dir) / 'config.yaml'} (pseudo-labels run --config "
          f"{Path(config.run_dir) / 'config.yaml'} replays it)\n"
          f"train CUPS on them (in a CUPS checkout):\n{command}")
    return 0
