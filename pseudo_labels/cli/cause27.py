"""CAUSE-27 baseline: CAUSE's own 27 clusters, Hungarian-matched on val, as 27-class PNGs.

    python pseudo_labels/generate_semantic_pseudolabels_cause.py --mode all --cityscapes_root R \\
        --checkpoint_dir checkpoints --split both --skip_crf
    python pseudo_labels/generate_semantic_pseudolabels_cause.py --mode generate --cityscapes_root R \\
        --scales 0.75,1.0,1.5 --save_logits --output_subdir pseudo_semantic_cause_ms --skip_crf

``hungarian`` matches the 27 clusters to the 27 CAUSE classes (labelIds 7..33)
on val centre crops and writes ``{output_dir}/hungarian_mapping.json`` -- an
evaluation step that reads val ground truth. ``generate`` writes
``{output_dir}/{split}/{city}/{stem}.png`` with CAUSE class ids 0..26 (sliding
windows, flip averaging, probe log-probabilities averaged over windows and over
``--scales``); ``remap_cause27_to_trainid.py`` turns them into trainIds. ``all``
does both. ``--output_subdir`` puts the PNGs under ``{root}/{output_subdir}``
instead (the mapping is still read from ``--output_dir``). ``--save_logits``
adds ``{stem}_logits.pt`` beside each PNG: (27, logits_h, logits_w) float16
class probabilities. Without ``--skip_crf`` the dense CRF
(:mod:`pseudo_labels.semantics.crf`, softmax temperature 3) refines each map before the
class mapping, as the original. Needs ``cluster_tr.pth`` beside the other CAUSE
files; ``--sinder_checkpoint`` swaps the DINOv2 backbone for a repaired one of
the same keys; ``--backbone dinov3_vitl16`` reads every file from
``--dinov3_checkpoint_dir`` (layout in the README).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL, NON_NEGATIVE_INT, POSITIVE_INT
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.semantics import cause27, crf
from pseudo_labels.semantics.cause27_labels import BACKBONES, DEVICES, DINOV3_SUBDIR, Cause27Options, run_cause27
from refs.cause import dinov3
from refs.cause.model import CHECKPOINT_FILES, CLUSTER_FILE, CODEBOOK_FILE, SEGMENT_TR_FILE
from refs.checkpoints import CHECKPOINT_DIR


def build_parser() -> argparse.ArgumentParser:
    """Every flag of the original script with its default and choices, plus ``--crf_workers`` and ``--max_windows``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--mode", choices=("hungarian", "generate", "all"), default="all")
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--output_dir", type=Path, default=None, help="default: {root}/pseudo_semantic_cause")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help="flat folder with " + ", ".join((*CHECKPOINT_FILES, CLUSTER_FILE))
                             + f" (default: {CHECKPOINT_DIR})")
    parser.add_argument("--split", choices=("train", "val", "both"), default="both", help="split(s) to generate")
    parser.add_argument("--batch_size", type=POSITIVE_INT, default=1, help="images per network pass")
    parser.add_argument("--num_workers", type=NON_NEGATIVE_INT, default=4,
                        help="processes decoding and resizing images (0: in this process; at most the CPUs)")
    parser.add_argument("--skip_crf", action="store_true", help="no dense CRF (else needs requirements-crf.txt)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA, else MPS, else CPU")
    parser.add_argument("--gpu", type=NON_NEGATIVE_INT, default=0, help="CUDA device index")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=0,
                        help="only the first N images (matching and output; 0: all)")
    parser.add_argument("--save_logits", action="store_true",
                        help="also write {stem}_logits.pt: (27, logits_h, logits_w) float16 class probabilities")
    parser.add_argument("--logits_h", type=POSITIVE_INT, default=32, help="height of the --save_logits maps")
    parser.add_argument("--logits_w", type=POSITIVE_INT, default=64, help="width of the --save_logits maps")
    parser.add_argument("--scales", default="1.0",
                        help="comma-separated inference scales, e.g. 0.75,1.0,1.5; log-probabilities are averaged")
    parser.add_argument("--output_subdir", default=None,
                        help="write the PNGs under {root}/{output_subdir} (the mapping stays in --output_dir)")
    parser.add_argument("--sinder_checkpoint", type=Path, default=None,
                        help="SINDER-repaired DINOv2 ViT-B/14 (the keys of dinov2_vitb14_pretrain.pth) "
                             "in place of the one in --checkpoint_dir")
    parser.add_argument("--backbone", choices=BACKBONES, default="dinov2_vitb14",
                        help="dinov3_vitl16: DINOv3 ViT-L/16 with CAUSE heads retrained on it")
    parser.add_argument("--dinov3_checkpoint_dir", type=Path, default=None,
                        help=f"folder with {dinov3.BACKBONE_GLOB}, {SEGMENT_TR_FILE}, {CLUSTER_FILE}, {CODEBOOK_FILE} "
                             f"for --backbone dinov3_vitl16 (default: {{checkpoint_dir}}/{DINOV3_SUBDIR})")
    parser.add_argument("--crf_workers", type=POSITIVE_INT, default=None,
                        help="processes running the CRF (default: CPUs, at most 8)")
    parser.add_argument("--max_windows", type=POSITIVE_INT, default=None,
                        help="at most this many windows per network pass (default: all windows of all --scales of "
                             "--batch_size images in one pass)")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a label folder made with other settings, removing its label files that "
                             "this run does not rewrite (else such a folder is refused)")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    """``--scales`` that do not parse are an InputError (the numeric flags' types check their ranges)."""
    try:
        cause27.parse_scales(args.scales)
    except ValueError:
        raise InputError(f"--scales must be comma-separated positive numbers (e.g. 0.75,1.0,1.5), "
                         f"got {args.scales!r}.") from None


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_arguments(args)
    if not args.skip_crf and args.mode != "hungarian":
        crf.require()
    run_cause27(Cause27Options(**vars(args)))
    return 0
