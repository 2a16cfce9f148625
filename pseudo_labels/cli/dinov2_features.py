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
import logging
from collections.abc import Sequence
from pathlib import Path

import torch

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core import distributed
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import write_json
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import shard
from pseudo_labels.semantics.dinov2_tokens import GRID_H, GRID_W, INPUT_SIZE, REGISTER_FILE, load_backbone, run_split
from refs.cause.dinov2 import EMBED_DIM, PATCH_SIZE, DinoVisionTransformer
from refs.checkpoints import CHECKPOINT_DIR, CheckpointError

log = logging.getLogger("dinov2")









DEFAULT_SPLITS = ("train", "val")


def build_parser() -> argparse.ArgumentParser:
    """The original script's flags and defaults, plus ``--checkpoint``, ``--limit`` and ``--overwrite``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path,
                        help="Cityscapes root (holds leftImg8bit/); required here, the original defaults to "
                             "its author's own folder")
    parser.add_argument("--output_subdir", default="dinov2_features", help="output folder under the root")
    parser.add_argument("--split", default=None, help="one split folder of leftImg8bit (default: train and val)")
    parser.add_argument("--batch_size", type=int, default=4, help="images per forward pass")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--checkpoint", type=Path, default=CHECKPOINT_DIR / REGISTER_FILE,
                        help="DINOv2 ViT-B/14 weights (register or plain variant)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each split")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute every file, also in a folder made with another checkpoint")
    return parser


def splits_to_run(root: Path, split: str | None) -> list[str]:
    """``[split]``, or those of train and val whose image folder exists (warning about a missing one)."""
    if split is not None:
        return [split]
    present = [s for s in DEFAULT_SPLITS if (root / "leftImg8bit" / s).is_dir()]
    if not present:
        raise InputError(f"{root / 'leftImg8bit'}: neither train/ nor val/ exists. Point --cityscapes_root at the "
                         f"Cityscapes root, or name a split with --split.")
    for missing in sorted(set(DEFAULT_SPLITS) - set(present)):
        log.warning("%s: absent, split %r skipped", root / "leftImg8bit" / missing, missing)
    return present


def extract_split(model: DinoVisionTransformer, args: argparse.Namespace, split: str,
                  process: distributed.Process, device: torch.device) -> None:
    """One split: claim the output folder, write this rank's share, then (rank 0) metadata and manifest."""
    images = cs.image_paths(args.cityscapes_root, split)
    keys = list(images)[: args.limit] if args.limit else list(images)
    out = args.cityscapes_root / args.output_subdir / split
    manifest = RunManifest("dinov2_features", args)
    manifest.add_checkpoints({"dinov2": args.checkpoint})
    if process.leader:
        manifest.claim(out, {"checkpoint": manifest.record["checkpoints"]["dinov2"]["sha256"],
                             "input_size": list(INPUT_SIZE), "dtype": "float16"}, args.overwrite)
    distributed.wait_for_all(process)
    written = run_split(model, images, shard(keys, process.world, process.rank), out, args.batch_size, device,
                        args.overwrite)
    distributed.wait_for_all(process)
    if process.leader:
        write_json(out / "metadata.json", {
            "checkpoint": args.checkpoint.name, "register_tokens": model.num_register_tokens,
            "input_size": list(INPUT_SIZE), "patch_size": PATCH_SIZE, "h_patches": GRID_H, "w_patches": GRID_W,
            "n_patches": GRID_H * GRID_W, "embed_dim": EMBED_DIM, "dtype": "float16", "split": split,
            "num_images": len(keys),
            "layout": "row-major patch tokens after the final LayerNorm, CLS and registers removed"})
        manifest.write(out, extra={"written_by_rank_0": written, "ranks": process.world, "device": str(device)})
        log.info("%d images -> %s", len(keys), out)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    splits = splits_to_run(args.cityscapes_root, args.split)
    for split in splits:  # every split's images are listed (and checked) before the network loads
        cs.image_paths(args.cityscapes_root, split)
    process, device = distributed.start(pick_device(args.device, mps=True))
    try:
        model = load_backbone(args.checkpoint).to(device)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    for split in splits:
        extract_split(model, args, split, process, device)
    distributed.finish(process)
    return 0
