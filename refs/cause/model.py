"""The CAUSE feature network (DINOv2 ViT-B/14 + Segment_TR ``head_ema``) and strict loading of the release files.

A flat checkpoint folder holds ``dinov2_vitb14_pretrain.pth`` (the backbone,
175 keys), ``segment_tr.pth`` (the whole Segment_TR module: ``head.*``,
``projection_head.*``, ``head_ema.*``, ``projection_head_ema.*``, ``linear.*``)
and ``modular.npy`` (the 2048 x 768 float32 codebook). Only the ``head_ema.*``
keys change the output; the other groups are listed in
:data:`IGNORED_SEGMENT_TR_GROUPS` and skipped on purpose, everything in
``head_ema`` must match exactly. :func:`load_cause_dinov3` reads the same three
CAUSE files (of width 1024) plus Meta's DINOv3 ViT-L/16 file from one folder.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from refs.cause.dinov2 import DinoVisionTransformer
from refs.cause.head import CODEBOOK_SHAPE, SegmentHead
from refs.checkpoints import CheckpointError, load_state, read_checkpoint

__all__ = ["CauseFeatures", "CheckpointError", "ClusterProbe", "load_cause", "load_cause_dinov3", "load_cluster_probe"]

log = logging.getLogger(__name__)

DINOV2_FILE, SEGMENT_TR_FILE, CODEBOOK_FILE = "dinov2_vitb14_pretrain.pth", "segment_tr.pth", "modular.npy"
CLUSTER_FILE = "cluster_tr.pth"
NUM_CAUSE_CLUSTERS = 27
CHECKPOINT_FILES = (DINOV2_FILE, SEGMENT_TR_FILE, CODEBOOK_FILE)
HEAD_PREFIX = "head_ema."
IGNORED_SEGMENT_TR_GROUPS = ("head.", "projection_head.", "projection_head_ema.", "linear.")
"""Segment_TR parts unused at inference (training heads and the linear probe)."""
DINOV2_RELEASE = "the DINOv2 release (github.com/facebookresearch/dinov2, ViT-B/14 backbone)"
CAUSE_RELEASE = "the CAUSE release (github.com/ByungKwanLee/Causal-Unsupervised-Segmentation, Cityscapes, DINOv2 ViT-B/14)"


class CauseFeatures(nn.Module):
    """(B, 3, 322, 322) ImageNet-normalised crops -> (B, 90, 23, 23) CAUSE features."""

    def __init__(self, codebook: torch.Tensor | None = None) -> None:
        super().__init__()
        self.vit = DinoVisionTransformer()
        self.head = SegmentHead(codebook)

    def features_and_tokens(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 90, 23, 23) features and the (B, 529, 768) patch tokens they were computed from."""
        tokens = self.vit(crops)[:, 1:]
        # Under bf16 autocast only the backbone runs in bf16: the head's vector quantisation picks one of
        # 2048 codes per patch, and bf16 inputs flip those picks (benchmarks/README.md measures it).
        with torch.autocast(crops.device.type, enabled=False):
            return self.head(tokens.float()), tokens

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.features_and_tokens(crops)[0]


def read_codebook(path: Path, shape: tuple[int, int] = CODEBOOK_SHAPE) -> torch.Tensor:
    """``modular.npy`` as a ``shape`` (2048 x backbone width) float32 tensor; another shape is a CheckpointError."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: codebook not found. Download {path.name} from {CAUSE_RELEASE} "
                                f"and put it in {path.parent}.")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: a zero-byte file
        raise CheckpointError(f"{path}: cannot be read as .npy ({exc}).") from None
    if array.shape != tuple(shape):
        raise CheckpointError(f"{path}: codebook must be {tuple(shape)} (2048 codes x the backbone's width), "
                              f"got {array.shape}.")
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def head_state(segment_tr: dict, path: Path) -> dict:
    """The ``head_ema.*`` entries without their prefix; unknown groups are an error, known unused ones are skipped."""
    head = {k[len(HEAD_PREFIX):]: v for k, v in segment_tr.items() if k.startswith(HEAD_PREFIX)}
    other = [k for k in segment_tr if not k.startswith(HEAD_PREFIX)]
    unknown = [k for k in other if not k.startswith(IGNORED_SEGMENT_TR_GROUPS)]
    if unknown:
        raise CheckpointError(f"{path}: unexpected keys {unknown[:5]} (not a CAUSE Segment_TR state dict?).")
    if other:
        log.debug("%s: %d keys outside head_ema ignored on purpose (%s)", path, len(other), ", ".join(IGNORED_SEGMENT_TR_GROUPS))
    return head


def load_cause(checkpoint_dir: str | Path, backbone: str | Path | None = None) -> CauseFeatures:
    """Build the network and load the three release files from a flat folder (CPU, eval mode).

    ``backbone`` replaces ``dinov2_vitb14_pretrain.pth`` with another file of the
    same keys (a SINDER-repaired ViT-B/14, say), loaded just as strictly.
    """
    folder = Path(checkpoint_dir)
    vit_path = folder / DINOV2_FILE if backbone is None else Path(backbone)
    vit_state = read_checkpoint(vit_path, DINOV2_RELEASE)
    segment_tr = read_checkpoint(folder / SEGMENT_TR_FILE, CAUSE_RELEASE)
    model = CauseFeatures(read_codebook(folder / CODEBOOK_FILE))
    load_state(model.vit, vit_state, vit_path)
    load_state(model.head, head_state(segment_tr, folder / SEGMENT_TR_FILE), folder / SEGMENT_TR_FILE)
    return model.eval()


class ClusterProbe(nn.Module):
    """CAUSE's ``Cluster`` module (``cluster_tr.pth``): 27 cluster centres over the 90-d features.

    ``codebook`` is stored in the file but unused at inference; it is kept so the
    file loads strictly.
    """

    def __init__(self, dim: int = CODEBOOK_SHAPE[1]) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.zeros(CODEBOOK_SHAPE[0], dim))
        self.cluster_probe = nn.Parameter(torch.zeros(NUM_CAUSE_CLUSTERS, 90))

    def forward(self, maps: torch.Tensor, alpha: float = 3.0) -> torch.Tensor:
        """(B, 90, h, w) -> (B, 27, h, w) ``log_softmax(alpha * cosine)``, as CAUSE's ``forward_centroid(crf=True)``."""
        features = torch.nn.functional.normalize(maps, dim=1)
        centres = torch.nn.functional.normalize(self.cluster_probe, dim=1)
        return torch.log_softmax(alpha * torch.einsum("bchw,nc->bnhw", features, centres), dim=1)


def load_cluster_probe(checkpoint_dir: str | Path, dim: int = CODEBOOK_SHAPE[1]) -> ClusterProbe:
    """``{checkpoint_dir}/cluster_tr.pth`` loaded strictly (CPU, eval mode); ``dim``: the backbone's width."""
    path = Path(checkpoint_dir) / CLUSTER_FILE
    probe = ClusterProbe(dim)
    load_state(probe, read_checkpoint(path, CAUSE_RELEASE), path)
    return probe.eval()


DINOV3_CAUSE_RELEASE = ("CAUSE heads retrained on DINOv3 ViT-L/16 (segment_tr.pth, cluster_tr.pth, modular.npy of "
                        "width 1024, from your own CAUSE training run)")


def find_dinov3_backbone(folder: Path) -> Path:
    """The one ``dinov3_vitl16_pretrain*.pth`` file of a DINOv3 checkpoint folder."""
    from refs.cause import dinov3

    found = sorted(folder.glob(dinov3.BACKBONE_GLOB))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({', '.join(p.name for p in found)})"
        raise FileNotFoundError(f"{folder}: {what} {dinov3.BACKBONE_GLOB} file(s); put exactly one DINOv3 ViT-L/16 "
                                f"backbone there ({dinov3.BACKBONE_FILE} from {dinov3.DINOV3_RELEASE}).")
    return found[0]


def load_cause_dinov3(folder: str | Path) -> tuple[nn.Module, ClusterProbe]:
    """The DINOv3 ViT-L/16 CAUSE network and its cluster probe from one folder (CPU, eval mode), loaded strictly.

    The folder holds the official backbone file (``dinov3_vitl16_pretrain*.pth``)
    and CAUSE's files retrained on it: ``segment_tr.pth`` (``head_ema.query_pos``
    400 x 1024), ``cluster_tr.pth`` and ``modular.npy`` (2048 x 1024). The
    backbone's width and depth are read from its file (ViT-L/16: 1024, 24
    blocks); every head must have that width, else a CheckpointError names the key.
    """
    from refs.cause import dinov3

    folder = Path(folder)
    backbone_path = find_dinov3_backbone(folder)
    official = read_checkpoint(backbone_path, dinov3.DINOV3_RELEASE)
    try:
        width, depth = dinov3.backbone_size(official)
        backbone = dinov3.build_backbone(width, depth)
        state = dinov3.timm_state_from_official(official, dinov3.rope_periods(backbone))
    except CheckpointError as exc:
        raise CheckpointError(f"{backbone_path}: {exc}.") from None
    load_state(backbone, state, backbone_path)
    if (width, depth) != (dinov3.VITL16_WIDTH, dinov3.VITL16_DEPTH):
        log.warning("%s: a DINOv3 ViT/16 of width %d and depth %d, not ViT-L/16 (%d, %d)", backbone_path, width, depth,
                    dinov3.VITL16_WIDTH, dinov3.VITL16_DEPTH)
    segment_path = folder / SEGMENT_TR_FILE
    head = head_state(read_checkpoint(segment_path, DINOV3_CAUSE_RELEASE), segment_path)
    queries = head.get("query_pos")
    expected = (dinov3.GRID * dinov3.GRID, width)
    if isinstance(queries, torch.Tensor) and tuple(queries.shape) != expected:
        raise CheckpointError(f"{segment_path}: {HEAD_PREFIX}query_pos is {tuple(queries.shape)}, but heads on the "
                              f"DINOv3 backbone {backbone_path.name} ({width} wide, {dinov3.CROP} crops) need "
                              f"{expected}: these heads were trained on another backbone. Put the CAUSE heads "
                              f"retrained on DINOv3 ViT-L/16 in {folder}.")
    model = dinov3.Dinov3CauseFeatures(backbone, read_codebook(folder / CODEBOOK_FILE, (CODEBOOK_SHAPE[0], width)))
    load_state(model.head, head, segment_path)
    return model.eval(), load_cluster_probe(folder, width)
