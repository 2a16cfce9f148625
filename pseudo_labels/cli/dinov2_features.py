"""Raw DINOv2 ViT-B/14 patch tokens per image (float16 ``.npy``), for comparisons with the CAUSE features.

    python pseudo_labels/extract_dinov2_features.py --cityscapes_root R
    python pseudo_labels/extract_dinov2_features.py --cityscapes_root R --split val --output_subdir dinov2_features

Without ``--split`` both train and val are processed, as the original does; a
split whose ``leftImg8bit`` folder is absent is then skipped with a warning
(one of them must exist). Each image is resized to 448x896 (Pillow BILINEAR),
ImageNet-normalised and run through the backbone; the normalised patch tokens
(32 x 64 = 2048 x 768, no CLS and no register tokens) are written as
``{R}/{output_subdir}/{split}/{city}/{stem}.npy`` (float16) with
``metadata.json`` giving the grid. ``--checkpoint`` takes the register variant
the original used (``dinov2_vitb14_reg4_pretrain.pth``, with
``register_tokens``) or the plain ``dinov2_vitb14_pretrain.pth``; the file
decides which network is built. Existing outputs are skipped (a resume);
``--overwrite`` recomputes them. Under ``torchrun`` each rank takes every
WORLD_SIZE-th image and rank 0 writes ``metadata.json`` and the manifest.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import FIRST_N_OR_ALL, POSITIVE_INT
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.semantics.dinov2_tokens import REGISTER_FILE, TokenOptions, extract_tokens
from refs.checkpoints import CHECKPOINT_DIR


def build_parser() -> argparse.ArgumentParser:
    """The original script's flags and defaults, plus ``--checkpoint``, ``--limit`` and ``--overwrite``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path,
                        help="Cityscapes root (holds leftImg8bit/); required here, the original defaults to "
                             "its author's own folder")
    parser.add_argument("--output_subdir", default="dinov2_features", help="output folder under the root")
    parser.add_argument("--split", default=None, help="one split folder of leftImg8bit (default: train and val)")
    parser.add_argument("--batch_size", type=POSITIVE_INT, default=4, help="images per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT_DIR / REGISTER_FILE,
                        help="DINOv2 ViT-B/14 weights (register or plain variant)")
    parser.add_argument("--limit", type=FIRST_N_OR_ALL, default=None, help="only the first N images of each split")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute every file, also in a folder made with another checkpoint")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    extract_tokens(TokenOptions(**vars(args)))
    return 0
