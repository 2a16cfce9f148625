"""SPIdepth depth maps for Cityscapes images: ``{output_dir}/{split}/{city}/{stem}.npy``.

    python pseudo_labels/generate_depth_spidepth.py --cityscapes_root R --split both
    pseudo-labels depth --cityscapes_root OUT --layout folder --image_root PHOTOS --split train

Reads ``leftImg8bit`` images only (no ground truth) and the official SPIdepth
checkpoint (``encoder.pth``, ``depth.pth`` in ``--checkpoint_dir``). Each map is
float32 HxW in [0, 1] (per-image min-max), written atomically; existing maps
are skipped, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL, NON_NEGATIVE_INT, Number, POSITIVE_INT, add_layout_arguments
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.depth.maps import DEFAULT_CHECKPOINT_DIRS, DepthOptions, log_file, write_depth_maps
from refs.spidepth.model import DEPTH_FILE, ENCODER_FILE
from refs.spidepth.unet import DEFAULT_BACKBONE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/)")
    parser.add_argument("--split", default="both", choices=("train", "val", "both"), help="split(s) to process")
    parser.add_argument("--output_dir", type=Path, default=None, help=f"default: {{root}}/{cs.DEPTH_SUBDIR}")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help=f"folder with SPIdepth's {ENCODER_FILE} and {DEPTH_FILE} (default: the first of "
                             f"{', '.join(map(str, DEFAULT_CHECKPOINT_DIRS))} that holds them)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--target_size", type=POSITIVE_INT, nargs=2, default=cs.WORKING_SIZE, metavar=("H", "W"),
                        help="size of the written depth maps")
    parser.add_argument("--flip_augment", action="store_true", default=True,
                        help="average with the horizontal flip (on by default, as in the original)")
    parser.add_argument("--no_flip_augment", action="store_true", help="skip the horizontal-flip average")
    parser.add_argument("--log_file", type=Path, default=None, help="also append the log to this file")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="timm backbone the checkpoint was trained with")
    parser.add_argument("--batch_size", type=POSITIVE_INT, default=2, help="images per network batch (x2 with flips)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (ignored on CPU)")
    parser.add_argument("--num_workers", type=NON_NEGATIVE_INT, default=2,
                        help="processes decoding and resizing images")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=None,
                        help="process only the first N images of each split")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute every map, also in a folder made with other settings")
    parser.add_argument("--crop_bottom", type=Number(float, low=0.0, below=1.0), default=0.0,
                        help="fraction of the frame bottom (ego vehicle) not fed to the network; 0 = reference")
    add_layout_arguments(parser, "other than Cityscapes, each map is written at its frame's working size (short "
                                 "side 512; --target_size is for Cityscapes)")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with log_file(args.log_file):
        write_depth_maps(DepthOptions(**vars(args)))
    return 0
