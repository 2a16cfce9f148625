"""Random weights written in the official release layouts of CAUSE and SPIdepth.

For tests, benchmarks and smoke-testing an install without downloading
anything: every loader reads these files exactly as it reads the real ones,
but what the networks then predict is meaningless.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from refs.cause import dinov3
from refs.cause.model import CLUSTER_FILE, CODEBOOK_FILE, DINOV2_FILE, HEAD_PREFIX, SEGMENT_TR_FILE, CauseFeatures
from refs.spidepth.model import DEFAULT_BACKBONE, DEPTH_FILE, ENCODER_FILE, SPIdepth

SEGMENT_TR_EXTRAS = {"linear.weight": (27, 90), "head.query_pos": (529, 768)}
"""Groups of the released Segment_TR file that the feature network does not use (the loader skips them)."""
MONODEPTH_ENTRIES = {"height": 320, "width": 1024, "use_stereo": False}
"""Non-tensor entries of the released SPIdepth encoder.pth."""


def write_cause_release(folder: str | Path, seed: int = 0) -> Path:
    """``dinov2_vitb14_pretrain.pth``, ``segment_tr.pth`` and ``modular.npy`` with random weights, in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = CauseFeatures(torch.randn(2048, 768))
    torch.save(model.vit.state_dict(), folder / DINOV2_FILE)
    segment_tr = {f"{HEAD_PREFIX}{k}": v for k, v in model.head.state_dict().items()}
    segment_tr.update({name: torch.zeros(shape) for name, shape in SEGMENT_TR_EXTRAS.items()})
    torch.save(segment_tr, folder / SEGMENT_TR_FILE)
    np.save(folder / CODEBOOK_FILE, model.head.codebook.numpy())
    return folder


def write_cluster_probe(folder: str | Path, width: int = 768, seed: int = 0) -> Path:
    """``cluster_tr.pth`` (``codebook`` 2048 x width, ``cluster_probe`` 27 x 90) with random centres, in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    torch.save({"codebook": torch.zeros(2048, width), "cluster_probe": torch.randn(27, 90, generator=generator)},
               folder / CLUSTER_FILE)
    return folder


def write_dinov3_cause_release(folder: str | Path, width: int = dinov3.VITL16_WIDTH, depth: int = dinov3.VITL16_DEPTH,
                               seed: int = 0, head_width: int | None = None) -> Path:
    """A DINOv3 CAUSE folder: the backbone in the official DINOv3 layout plus heads, probe and codebook.

    ``width``/``depth`` default to ViT-L/16; tests use small ones. ``head_width``
    (default ``width``) makes heads for another backbone width, to test that they are refused.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    backbone = dinov3.build_backbone(width, depth)
    for name, value in backbone.named_parameters():
        if name.endswith(("gamma_1", "gamma_2")):  # LayerScale starts at 1e-5: make the blocks count
            value.data.fill_(0.5)
    official = dinov3.official_state_from_timm(backbone.state_dict(), dinov3.rope_periods(backbone))
    torch.save(official, folder / dinov3.BACKBONE_FILE)
    head_width = head_width or width
    codebook = torch.randn(2048, head_width)
    model = dinov3.Dinov3CauseFeatures(dinov3.build_backbone(head_width, 1), codebook)
    segment_tr = {f"{HEAD_PREFIX}{k}": v for k, v in model.head.state_dict().items()}
    segment_tr.update({"linear.weight": torch.zeros(27, 90)})
    torch.save(segment_tr, folder / SEGMENT_TR_FILE)
    np.save(folder / CODEBOOK_FILE, codebook.numpy())
    return write_cluster_probe(folder, head_width, seed)


def save_spidepth_release(folder: str | Path, encoder: dict, decoder: dict) -> Path:
    """Write SPIdepth state dicts as ``encoder.pth`` (with monodepth's extra entries) and ``depth.pth``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({**encoder, **MONODEPTH_ENTRIES}, folder / ENCODER_FILE)
    torch.save(decoder, folder / DEPTH_FILE)
    return folder


def write_spidepth_release(folder: str | Path, backbone: str = DEFAULT_BACKBONE, seed: int = 0) -> Path:
    """``encoder.pth`` and ``depth.pth`` of a random SPIdepth with the given ConvNeXtV2 backbone, in ``folder``."""
    torch.manual_seed(seed)
    model = SPIdepth(backbone)
    return save_spidepth_release(folder, model.encoder.state_dict(), model.depth.state_dict())
