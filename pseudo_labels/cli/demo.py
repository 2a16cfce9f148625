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
from pseudo_labels.pipeline.config import load_config, resolve, write_config
from pseudo_labels.pipeline.schema import RunConfig
from pseudo_labels.pipeline.stages import run_stage
from pseudo_labels.pipeline.stages import report as report_stage

log = logging.getLogger("demo")

DEFAULT_OUT = Path("outputs/demo")
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
    return parser


def demo_config(args: argparse.Namespace) -> RunConfig:
    """``demo.yaml`` with the demo's flags: k, the real networks with ``--checkpoint_dir``, the report in ``--out``."""
    root: Path = args.out
    overrides = [f"semantics.k={args.k}"]
    if args.checkpoint_dir:
        overrides += ["semantics.features=cause", "stages=[semantics,depth,stuff_things,sweep,cups,report]"]
    config = load_config("demo", overrides, root)
    config.run_dir, config.report.out = str(root / "runs" / "demo"), str(root / "report.md")
    if args.checkpoint_dir:  # set as values, not override text: any path goes
        config.semantics.checkpoint_dir = str(args.checkpoint_dir)
        config.depth.checkpoint_dir = str(args.checkpoint_dir / "spidepth")
    return resolve(config)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
