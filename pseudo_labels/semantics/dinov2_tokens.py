"""Raw DINOv2 ViT-B/14 patch tokens: the backbone the file holds (plain or with registers), its input, one split.

Each image is resized to 448x896 (Pillow BILINEAR), ImageNet-normalised and
run through the backbone; the normalised patch tokens (32 x 64 = 2048 x 768,
no CLS and no register tokens) are what the overclustering analysis compares
with the CAUSE features.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from pseudo_labels.core.fileio import write_npy
from pseudo_labels.core.manifest import record_source, source_fingerprint, split_done
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics.features import IMAGENET_MEAN, IMAGENET_STD
from refs.cause.dinov2 import PATCH_SIZE, DinoVisionTransformer
from refs.cause.model import DINOV2_RELEASE
from refs.checkpoints import load_state, read_checkpoint

log = logging.getLogger("dinov2")

GRID_H, GRID_W = 32, 64
"""Patch grid of the 448x896 input."""


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
