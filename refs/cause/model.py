"""The CAUSE feature network (DINOv2 ViT-B/14 + Segment_TR ``head_ema``) and strict loading of the release files.

A flat checkpoint folder holds ``dinov2_vitb14_pretrain.pth`` (the backbone,
175 keys), ``segment_tr.pth`` (the whole Segment_TR module: ``head.*``,
``projection_head.*``, ``head_ema.*``, ``projection_head_ema.*``, ``linear.*``)
and ``modular.npy`` (the 2048 x 768 float32 codebook). Only the ``head_ema.*``
keys change the output; the other groups are listed in
:data:`IGNORED_SEGMENT_TR_GROUPS` and skipped on purpose, everything in
``head_ema`` must match exactly.
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

__all__ = ["CauseFeatures", "CheckpointError", "ClusterProbe", "load_cause", "load_cluster_probe"]

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


def read_codebook(path: Path) -> torch.Tensor:
    """``modular.npy`` as a (2048, 768) float32 tensor; the wrong shape is a CheckpointError."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: codebook not found. Download {path.name} from {CAUSE_RELEASE} "
                                f"and put it in {path.parent}.")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # EOFError: a zero-byte file
        raise CheckpointError(f"{path}: cannot be read as .npy ({exc}).") from None
    if array.shape != CODEBOOK_SHAPE:
        raise CheckpointError(f"{path}: codebook must be {CODEBOOK_SHAPE}, got {array.shape}.")
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


def load_cause(checkpoint_dir: str | Path) -> CauseFeatures:
    """Build the network and load the three release files from a flat folder (CPU, eval mode)."""
    folder = Path(checkpoint_dir)
    vit_state = read_checkpoint(folder / DINOV2_FILE, DINOV2_RELEASE)
    segment_tr = read_checkpoint(folder / SEGMENT_TR_FILE, CAUSE_RELEASE)
    model = CauseFeatures(read_codebook(folder / CODEBOOK_FILE))
    load_state(model.vit, vit_state, folder / DINOV2_FILE)
    load_state(model.head, head_state(segment_tr, folder / SEGMENT_TR_FILE), folder / SEGMENT_TR_FILE)
    return model.eval()


class ClusterProbe(nn.Module):
    """CAUSE's ``Cluster`` module (``cluster_tr.pth``): 27 cluster centres over the 90-d features.

    ``codebook`` is stored in the file but unused at inference; it is kept so the
    file loads strictly.
    """

    def __init__(self) -> None:
        super().__init__()
        self.codebook = nn.Parameter(torch.zeros(2048, 768))
        self.cluster_probe = nn.Parameter(torch.zeros(NUM_CAUSE_CLUSTERS, 90))

    def forward(self, maps: torch.Tensor, alpha: float = 3.0) -> torch.Tensor:
        """(B, 90, h, w) -> (B, 27, h, w) ``log_softmax(alpha * cosine)``, as CAUSE's ``forward_centroid(crf=True)``."""
        features = torch.nn.functional.normalize(maps, dim=1)
        centres = torch.nn.functional.normalize(self.cluster_probe, dim=1)
        return torch.log_softmax(alpha * torch.einsum("bchw,nc->bnhw", features, centres), dim=1)


def load_cluster_probe(checkpoint_dir: str | Path) -> ClusterProbe:
    """``{checkpoint_dir}/cluster_tr.pth`` loaded strictly (CPU, eval mode)."""
    path = Path(checkpoint_dir) / CLUSTER_FILE
    probe = ClusterProbe()
    load_state(probe, read_checkpoint(path, CAUSE_RELEASE), path)
    return probe.eval()
