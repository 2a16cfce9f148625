"""``pseudo-labels checkpoints verify|download``: check a checkpoint folder, or fetch the files that have a source.

    pseudo-labels checkpoints verify --checkpoint_dir checkpoints
    pseudo-labels checkpoints download --checkpoint_dir checkpoints      # SPIdepth, from Hugging Face
    pseudo-labels checkpoints download --dataset kitti                   # SPIdepth trained on KITTI

``verify`` lists every official file of the layout in ``checkpoints/README.md``:
present or not, its size and sha256 (compared with the recorded hash where one
is known), and whether each network loads it strictly, with the same loaders
the stages use. Exit status 2 when a present file is damaged or does not fit.

``download`` is an explicit user action (no stage ever downloads): it fetches
the files that have a Hugging Face source with ``huggingface_hub`` (which
honours ``HF_ENDPOINT`` for mirrors) and moves them into place atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.checkpoint_files import download_official_files, inspect_files
from pseudo_labels.core.errors import InputError, exit_on_input_error
from refs.checkpoints import CHECKPOINT_DIR
from refs.official_files import network_verdicts


def verify(folder: Path, spidepth_backbone: str | None) -> int:
    """Print the table of files and networks; 2 when a present file is damaged, does not fit or differs."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such checkpoint folder. Pass --checkpoint_dir (layout: checkpoints/README.md).")
    reports = inspect_files(folder)
    print(f"checkpoint folder {folder}")
    width = max(len(r.file.path) for r in reports)
    for report in reports:
        size = "-" if report.size is None else f"{report.size:,} B"
        digest = report.sha256 or "-"
        print(f"  {report.file.path:<{width}}  {size:>16}  {digest}  ({report.hash_status})")
    verdicts = network_verdicts(folder, spidepth_backbone)
    for network, verdict in verdicts:
        print(f"  {network.name}: {verdict}")
    bad = [r for r in reports if r.hash_status.startswith("DIFFERS")] + [v for v in verdicts if v[1].startswith("FAILS")]
    if not any(r.size is not None for r in reports):
        print(f"no official file found in {folder}", file=sys.stderr)
        return 2
    return 2 if bad else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check the files of a checkpoint folder", formatter_class=HelpFormatter)
    check.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR, help="the folder to check")
    check.add_argument("--spidepth_backbone", default=None,
                       help="timm backbone the SPIdepth files were trained with (default: the official ConvNeXtV2-H)")
    fetch = commands.add_parser("download", help="fetch the files that have a Hugging Face source",
                                formatter_class=HelpFormatter)
    fetch.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR, help="where the files go")
    fetch.add_argument("--overwrite", action="store_true", help="fetch files that are already there again")
    fetch.add_argument("--dataset", choices=("cityscapes", "kitti", "all"), default="cityscapes",
                       help="which SPIdepth pair: Cityscapes' (into spidepth/), KITTI's (into spidepth_kitti/; for "
                            "KITTI and other wide dashcam frames), or both")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        return verify(args.checkpoint_dir, args.spidepth_backbone)
    datasets = ("cityscapes", "kitti") if args.dataset == "all" else (args.dataset,)
    download_official_files(args.checkpoint_dir, args.overwrite, datasets)
    return 0
