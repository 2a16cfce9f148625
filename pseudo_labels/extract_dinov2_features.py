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

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pseudo_labels import cityscapes as cs
from pseudo_labels import distributed
from pseudo_labels.cli_help import HelpFormatter
from pseudo_labels.devices import pick_device
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.features import IMAGENET_MEAN, IMAGENET_STD
from pseudo_labels.fileio import write_json, write_npy
from pseudo_labels.manifest import RunManifest, record_source, source_fingerprint, split_done
from pseudo_labels.parallel import shard
from refs.cause.dinov2 import EMBED_DIM, PATCH_SIZE, DinoVisionTransformer
from refs.cause.model import DINOV2_RELEASE
from refs.checkpoints import CheckpointError, load_state, read_checkpoint

log = logging.getLogger("dinov2")

GRID_H, GRID_W = 32, 64
INPUT_SIZE = (GRID_H * PATCH_SIZE, GRID_W * PATCH_SIZE)  # 448 x 896
REGISTER_FILE = "dinov2_vitb14_reg4_pretrain.pth"


def load_backbone(path: Path) -> DinoVisionTransformer:
    """The plain or register DINOv2 ViT-B/14, whichever the checkpoint holds, loaded strictly."""
    state = read_checkpoint(path, DINOV2_RELEASE)
    registers = state.get("register_tokens")
    if isinstance(registers, torch.Tensor):
        model = DinoVisionTransformer(num_register_tokens=registers.shape[1], interpolate_offset=0.0,
                                      interpolate_antialias=True)
    else:
        model = DinoVisionTransformer()
    load_state(model, state, path)
    return model.eval()


def network_input(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> (3, 448, 896) float32, Pillow BILINEAR and ImageNet normalisation."""
    resized = np.asarray(Image.fromarray(rgb).resize(INPUT_SIZE[::-1], Image.BILINEAR), np.float32)
    return np.ascontiguousarray(((resized / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


def run_split(model: DinoVisionTransformer, images: dict[str, Path], keys: list[str], out: Path,
              batch_size: int, device: torch.device, overwrite: bool) -> int:
    """Write the tokens of ``keys`` (this process's share) into ``out``; returns how many were written."""
    outputs = {k: cs.output_path(out.parent, out.name, k, ".npy") for k in keys}
    fingerprints = {k: source_fingerprint(images[k]) for k in keys}
    done = split_done(outputs, fingerprints, overwrite, "token maps")
    todo = [k for k in keys if k not in done]
    log.info("%d images, %d already done, %d to compute", len(keys), len(keys) - len(todo), len(todo))
    for start in tqdm(range(0, len(todo), batch_size), desc=f"DINOv2 {out.name}", unit="batch"):
        chunk = todo[start:start + batch_size]
        batch = torch.from_numpy(np.stack([network_input(cs.read_rgb(images[k])) for k in chunk])).to(device)
        with torch.inference_mode():
            tokens = model.patch_tokens(batch).to(torch.float16).cpu().numpy()
        for key, value in zip(chunk, tokens):
            record_source(write_npy(outputs[key], value), fingerprints[key])
    return len(todo)


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
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints") / REGISTER_FILE,
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


if __name__ == "__main__":
    raise SystemExit(main())
