"""Raw DINOv2 ViT-B/14 patch tokens: the network input, one split, and the ``dinov2-features`` stage's run.

Each image is resized to 448x896 (Pillow BILINEAR), ImageNet-normalised and
run through the backbone (plain or with registers: the checkpoint decides,
:func:`refs.official_files.load_dinov2`); the normalised patch tokens
(32 x 64 = 2048 x 768, no CLS and no register tokens) are what the
overclustering analysis compares with the CAUSE features. Under ``torchrun``
each rank takes every WORLD_SIZE-th image and rank 0 writes ``metadata.json``
and the manifest.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pseudo_labels.core import distributed
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_json, write_npy
from pseudo_labels.core.manifest import RunManifest, RunOutputs, record_source, source_fingerprint, split_done
from pseudo_labels.core.parallel import first_n, shard
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics.features import IMAGENET_MEAN, IMAGENET_STD
from refs.cause.dinov2 import EMBED_DIM, PATCH_SIZE, DinoVisionTransformer
from refs.checkpoints import CHECKPOINT_DIR, CheckpointError
from refs.official_files import REGISTER_FILE, load_dinov2

log = logging.getLogger("dinov2")

GRID_H, GRID_W = 32, 64
"""Patch grid of the 448x896 input."""


INPUT_SIZE = (GRID_H * PATCH_SIZE, GRID_W * PATCH_SIZE)  # 448 x 896
DEFAULT_SPLITS = ("train", "val")
"""The splits processed when none is named, as in the original."""


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


@dataclass(frozen=True, kw_only=True)
class TokenOptions:
    """The ``dinov2-features`` stage's settings: one field per command-line flag, same names, order and defaults.

    The manifest records them as the command's arguments, so a caller that
    builds them gets the manifest the command line writes.
    """

    cityscapes_root: Path
    output_subdir: str = "dinov2_features"
    split: str | None = None
    """One split folder of leftImg8bit; None: those of :data:`DEFAULT_SPLITS` that exist."""
    batch_size: int = 4
    device: str = "auto"
    checkpoint: Path = CHECKPOINT_DIR / REGISTER_FILE
    limit: int | None = None
    overwrite: bool = False


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


def extract_split(model: DinoVisionTransformer, options: TokenOptions, split: str, process: distributed.Process,
                  device: torch.device) -> Path:
    """One split: claim the output folder, write this rank's share, then (rank 0) metadata and manifest.

    Returns the split's output folder.
    """
    images = cs.image_paths(options.cityscapes_root, split)
    keys = first_n(images, options.limit)
    out = options.cityscapes_root / options.output_subdir / split
    manifest = RunManifest("dinov2_features", asdict(options))
    manifest.add_checkpoints({"dinov2": options.checkpoint})
    if process.leader:
        manifest.claim(out, {"checkpoint": manifest.record["checkpoints"]["dinov2"]["sha256"],
                             "input_size": list(INPUT_SIZE), "dtype": "float16"}, options.overwrite,
                       inputs=(options.cityscapes_root / "leftImg8bit" / split,),
                       outputs=RunOutputs.of(("*/*.npy",), (cs.output_path(out.parent, out.name, k, ".npy")
                                                           for k in keys)))
    distributed.wait_for_all(process)
    written = run_split(model, images, shard(keys, process.world, process.rank), out, options.batch_size, device,
                        options.overwrite)
    distributed.wait_for_all(process)
    if process.leader:
        write_json(out / "metadata.json", {
            "checkpoint": options.checkpoint.name, "register_tokens": model.num_register_tokens,
            "input_size": list(INPUT_SIZE), "patch_size": PATCH_SIZE, "h_patches": GRID_H, "w_patches": GRID_W,
            "n_patches": GRID_H * GRID_W, "embed_dim": EMBED_DIM, "dtype": "float16", "split": split,
            "num_images": len(keys),
            "layout": "row-major patch tokens after the final LayerNorm, CLS and registers removed"})
        manifest.write(out, extra={"written_by_rank_0": written, "ranks": process.world, "device": str(device)})
        log.info("%d images -> %s", len(keys), out)
    return out


def extract_tokens(options: TokenOptions) -> list[Path]:
    """The ``dinov2-features`` stage: every split's token files, metadata and manifest; returns the split folders.

    Every split's images are listed (and checked) before the network loads; a
    missing or unfitting checkpoint is an :class:`InputError`.
    """
    splits = splits_to_run(options.cityscapes_root, options.split)
    for split in splits:
        cs.image_paths(options.cityscapes_root, split)
    process, device = distributed.start(pick_device(options.device, mps=True))
    try:
        model = load_dinov2(options.checkpoint).to(device)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    folders = [extract_split(model, options, split, process, device) for split in splits]
    distributed.finish(process)
    return folders
