"""The official checkpoint files: where each goes in a checkpoint folder, which release it comes from, which
network reads it, and how each network is loaded strictly from such a folder.

The layout is the one ``checkpoints/README.md`` documents: the CAUSE and DINOv2
files side by side, the SPIdepth pair in ``spidepth/``. Only SPIdepth has a
source a program can fetch (its Hugging Face repository); the other releases
are links for a person to follow. Loaders are imported when a network is
checked, so reading the table costs no torch import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from refs.cause.dinov2 import DinoVisionTransformer


@dataclass(frozen=True)
class OfficialFile:
    """One file of the checkpoint layout: where it goes, what it is, where it comes from."""

    path: str
    """Relative to the checkpoint folder."""
    network: str
    needed_by: str
    source: str
    sha256: str | None = None
    """Of the official file, where recorded (no release publishes one)."""
    hugging_face: tuple[str, str] | None = None
    """(repo id, file name) a program can download it from."""
    dataset: str = "cityscapes"
    """The data the file was trained on: ``download --dataset`` fetches the files of one dataset."""


CAUSE_SOURCE = "CAUSE release (ByungKwanLee/Causal-Unsupervised-Segmentation), Cityscapes, DINOv2 ViT-B/14"
DINOV2_SOURCE = "DINOv2 release (facebookresearch/dinov2)"
SPIDEPTH_SOURCE = "SPIdepth release (Lavreniuk/SPIdepth), Cityscapes"
SPIDEPTH_KITTI_SOURCE = "SPIdepth release (Lavreniuk/SPIdepth), KITTI (eigen split, 320x1024)"
SPIDEPTH_KITTI_DIR = "spidepth_kitti"
"""Where the KITTI pair goes: pass ``--checkpoint_dir {folder}/spidepth_kitti`` to the depth stage."""
SPIDEPTH_HF_REPO = "MykolaL/SPIdepth"
"""The Hugging Face repository the original's download_spidepth.py reads."""
REGISTER_FILE = "dinov2_vitb14_reg4_pretrain.pth"
"""The DINOv2 ViT-B/14 with 4 register tokens, which the original token extraction reads."""

FILES: tuple[OfficialFile, ...] = (
    OfficialFile("dinov2_vitb14_pretrain.pth", "DINOv2 ViT-B/14 backbone", "semantics, cause27", DINOV2_SOURCE),
    OfficialFile("segment_tr.pth", "CAUSE Segment_TR head", "semantics, cause27", CAUSE_SOURCE),
    OfficialFile("modular.npy", "CAUSE modularity codebook (2048 x 768)", "semantics, cause27", CAUSE_SOURCE),
    OfficialFile("cluster_tr.pth", "CAUSE cluster probe (27 x 90)", "cause27", CAUSE_SOURCE),
    OfficialFile(REGISTER_FILE, "DINOv2 ViT-B/14 with 4 registers", "dinov2-features", DINOV2_SOURCE),
    OfficialFile("spidepth/encoder.pth", "SPIdepth encoder (ConvNeXtV2-H U-Net)", "depth", SPIDEPTH_SOURCE,
                 hugging_face=(SPIDEPTH_HF_REPO, "cityscapes/encoder.pth")),
    OfficialFile("spidepth/depth.pth", "SPIdepth query-transformer decoder", "depth", SPIDEPTH_SOURCE,
                 hugging_face=(SPIDEPTH_HF_REPO, "cityscapes/depth.pth")),
    OfficialFile(f"{SPIDEPTH_KITTI_DIR}/encoder.pth", "SPIdepth encoder trained on KITTI", "depth of KITTI-like data",
                 SPIDEPTH_KITTI_SOURCE, hugging_face=(SPIDEPTH_HF_REPO, "kitti/encoder.pth"), dataset="kitti"),
    OfficialFile(f"{SPIDEPTH_KITTI_DIR}/depth.pth", "SPIdepth decoder trained on KITTI", "depth of KITTI-like data",
                 SPIDEPTH_KITTI_SOURCE, hugging_face=(SPIDEPTH_HF_REPO, "kitti/depth.pth"), dataset="kitti"),
)
"""Every official file, in the order ``checkpoints/README.md`` lists them."""


def load_dinov2(path: Path) -> DinoVisionTransformer:
    """The plain or register DINOv2 ViT-B/14, whichever the checkpoint holds, loaded strictly (in eval mode)."""
    import torch

    from refs.cause.dinov2 import DinoVisionTransformer
    from refs.cause.model import DINOV2_RELEASE
    from refs.checkpoints import load_state, read_checkpoint

    state = read_checkpoint(path, DINOV2_RELEASE)
    registers = state.get("register_tokens")
    if isinstance(registers, torch.Tensor):
        model = DinoVisionTransformer(num_register_tokens=registers.shape[1], interpolate_offset=0.0,
                                      interpolate_antialias=True)
    else:
        model = DinoVisionTransformer()
    load_state(model, state, path)
    return model.eval()


@dataclass(frozen=True)
class Network:
    """Files that one loader reads together, and how to load them from a folder (raises on any mismatch)."""

    name: str
    files: tuple[str, ...]
    load: Callable[[Path, str], object]
    """(checkpoint folder, SPIdepth timm backbone) -> the loaded network."""


def _load_cause(folder: Path, spidepth_backbone: str) -> object:
    from refs.cause.model import load_cause

    return load_cause(folder)


def _load_probe(folder: Path, spidepth_backbone: str) -> object:
    from refs.cause.model import load_cluster_probe

    return load_cluster_probe(folder)


def _load_registers(folder: Path, spidepth_backbone: str) -> object:
    return load_dinov2(folder / REGISTER_FILE)


def _load_spidepth(folder: Path, spidepth_backbone: str) -> object:
    from refs.spidepth.model import load_spidepth

    return load_spidepth(folder / "spidepth", spidepth_backbone)


def _load_spidepth_kitti(folder: Path, spidepth_backbone: str) -> object:
    from refs.spidepth.model import load_spidepth

    return load_spidepth(folder / SPIDEPTH_KITTI_DIR, spidepth_backbone)


NETWORKS: tuple[Network, ...] = (
    Network("CAUSE features (semantics)", ("dinov2_vitb14_pretrain.pth", "segment_tr.pth", "modular.npy"),
            _load_cause),
    Network("CAUSE cluster probe (cause27)", ("cluster_tr.pth",), _load_probe),
    Network("DINOv2 with registers (dinov2-features)", (REGISTER_FILE,), _load_registers),
    Network("SPIdepth (depth)", ("spidepth/encoder.pth", "spidepth/depth.pth"), _load_spidepth),
    Network("SPIdepth KITTI (depth --checkpoint_dir .../spidepth_kitti)",
            (f"{SPIDEPTH_KITTI_DIR}/encoder.pth", f"{SPIDEPTH_KITTI_DIR}/depth.pth"), _load_spidepth_kitti),
)
"""Every network a stage loads from the checkpoint folder, with the official files it reads."""


def default_spidepth_backbone() -> str:
    """The timm backbone of the official SPIdepth Cityscapes files (ConvNeXtV2-H)."""
    from refs.spidepth.unet import DEFAULT_BACKBONE

    return DEFAULT_BACKBONE


def network_verdicts(folder: Path, spidepth_backbone: str | None = None) -> list[tuple[Network, str]]:
    """Each network's verdict: "loads strictly", "not checked: ... missing", or "FAILS: " and the loader's error.

    ``spidepth_backbone`` None is the official one (:func:`default_spidepth_backbone`).
    """
    if spidepth_backbone is None:
        spidepth_backbone = default_spidepth_backbone()
    verdicts = []
    for network in NETWORKS:
        missing = [name for name in network.files if not (folder / name).is_file()]
        if missing:
            unreadable = [problem for name in network.files if name not in missing
                          for problem in [_unreadable(folder / name)] if problem]
            verdicts.append((network, f"FAILS: {'; '.join(unreadable)} (and {', '.join(missing)} missing)"
                             if unreadable else f"not checked: {', '.join(missing)} missing"))
            continue
        try:
            network.load(folder, spidepth_backbone)
        except Exception as exc:  # noqa: BLE001 - every loader error is a verdict, not a crash
            verdicts.append((network, f"FAILS: {exc}"))
        else:
            verdicts.append((network, "loads strictly"))
    return verdicts


def _unreadable(path: Path) -> str | None:
    """Why a present official file cannot be read at all (None when it deserialises): checked even when the
    network cannot be loaded because a partner file is missing, so a damaged file is never passed as fine."""
    try:
        if path.suffix == ".npy":
            import numpy as np

            np.load(path, allow_pickle=False)
        else:
            import torch

            torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure to read is the verdict
        return f"{path.name} cannot be read ({type(exc).__name__}: {str(exc)[:120]})"
    return None
