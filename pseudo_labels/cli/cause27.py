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
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from torch.utils.data import DataLoader, Dataset

from pseudo_labels.semantics import cause27, crf, features
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import write_json, write_png, write_pt
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.core.parallel import default_workers
from refs.cause import dinov3
from refs.cause.model import (CHECKPOINT_FILES, CLUSTER_FILE, CODEBOOK_FILE, SEGMENT_TR_FILE, CheckpointError,
                              load_cause, load_cause_dinov3, load_cluster_probe)
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("cause27")
MAPPING_FILE = "hungarian_mapping.json"
DINOV3_SUBDIR = "dinov3_vitl16"
BACKBONES = ("dinov2_vitb14", "dinov3_vitl16")
DEVICES = ("auto", "cuda", "mps", "cpu")
GEOMETRIES = {"dinov2_vitb14": features.DINOV2_GEOMETRY,
              "dinov3_vitl16": features.Geometry(dinov3.CROP, dinov3.PATCH_SIZE)}


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
    parser.add_argument("--batch_size", type=int, default=1, help="images per network pass")
    parser.add_argument("--num_workers", type=int, default=4,
                        help="processes decoding and resizing images (0: in this process; at most the CPUs)")
    parser.add_argument("--skip_crf", action="store_true", help="no dense CRF (else needs requirements-crf.txt)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA, else MPS, else CPU")
    parser.add_argument("--gpu", type=int, default=0, help="CUDA device index")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (matching and output; 0: all)")
    parser.add_argument("--save_logits", action="store_true",
                        help="also write {stem}_logits.pt: (27, logits_h, logits_w) float16 class probabilities")
    parser.add_argument("--logits_h", type=int, default=32, help="height of the --save_logits maps")
    parser.add_argument("--logits_w", type=int, default=64, help="width of the --save_logits maps")
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
    parser.add_argument("--crf_workers", type=int, default=None,
                        help="processes running the CRF (default: CPUs, at most 8)")
    parser.add_argument("--max_windows", type=int, default=None,
                        help="at most this many windows per network pass (default: all windows of all --scales of "
                             "--batch_size images in one pass)")
    return parser


def pick_cause27_device(device: str, gpu: int) -> torch.device:
    """The original's choice: ``auto`` is CUDA device ``gpu``, else MPS, else CPU; ``cuda`` means ``cuda:{gpu}``."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{gpu}")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(f"cuda:{gpu}") if device == "cuda" else torch.device(device)


def load_networks(args: argparse.Namespace) -> tuple[torch.nn.Module, torch.nn.Module, features.Geometry, dict]:
    """(network, cluster probe, window geometry, checkpoint files for the manifest) for ``--backbone``."""
    checkpoint_dir = args.checkpoint_dir or CHECKPOINT_DIR
    try:
        if args.backbone == "dinov3_vitl16":
            if args.sinder_checkpoint is not None:
                raise InputError("--sinder_checkpoint repairs the DINOv2 ViT-B/14 backbone; it does not apply to "
                                 "--backbone dinov3_vitl16. Drop one of them.")
            folder = args.dinov3_checkpoint_dir or checkpoint_dir / DINOV3_SUBDIR
            model, probe = load_cause_dinov3(folder)
            files = {"dinov3": next(folder.glob(dinov3.BACKBONE_GLOB)), "segment_tr": folder / SEGMENT_TR_FILE,
                     "cluster_tr": folder / CLUSTER_FILE, "modular": folder / CODEBOOK_FILE}
        else:
            if args.sinder_checkpoint is not None and not args.sinder_checkpoint.is_file():
                raise InputError(f"{args.sinder_checkpoint}: --sinder_checkpoint not found. Pass the SINDER-repaired "
                                 f"DINOv2 ViT-B/14 state dict (github.com/haoqiwang/sinder).")
            model = load_cause(checkpoint_dir, args.sinder_checkpoint)
            probe = load_cluster_probe(checkpoint_dir)
            files = {name: checkpoint_dir / name for name in (*CHECKPOINT_FILES, CLUSTER_FILE)}
            if args.sinder_checkpoint is not None:
                files["dinov2_vitb14_pretrain.pth"] = args.sinder_checkpoint
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    return model, probe, GEOMETRIES[args.backbone], files


class _ScaledImages(Dataset):
    """Per image: its network inputs at every scale and its size; a bad file yields its message instead."""

    def __init__(self, paths: Sequence[Path], scales: tuple[float, ...], geometry: features.Geometry) -> None:
        self.paths, self.scales, self.geometry = list(paths), scales, geometry

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, list[np.ndarray] | None, tuple[int, int], str | None]:
        try:
            rgb = cs.read_rgb(self.paths[index])
        except InputError as exc:
            return index, None, (0, 0), str(exc)
        return index, cause27.scaled_inputs(rgb, self.scales, self.geometry), rgb.shape[:2], None


def label_jobs(model: torch.nn.Module, probe: torch.nn.Module, keys: Sequence[str], paths: Sequence[Path],
               cluster_to_class: np.ndarray, args: argparse.Namespace, scales: tuple[float, ...],
               geometry: features.Geometry, device: torch.device, desc: str) -> Iterator[cause27.LabelJob]:
    """One :class:`cause27.LabelJob` per image, ``--batch_size`` images (all their scales) per network pass."""
    # no more reader processes than batches to read or CPUs to run them, none for a single batch
    batches = -(-len(paths) // args.batch_size)
    workers = 0 if batches <= 1 else max(0, min(args.num_workers, batches, default_workers()))
    loader = DataLoader(_ScaledImages(paths, scales, geometry), batch_size=args.batch_size, num_workers=workers,
                        collate_fn=list)
    logits_size = (args.logits_h, args.logits_w) if args.save_logits else None
    for batch in tqdm(loader, desc=desc, unit="batch" if args.batch_size > 1 else "img"):
        for _, _, _, error in batch:
            if error:
                raise InputError(error)
        per_image = cause27.scale_log_probs(model, probe, [inputs for _, inputs, _, _ in batch], device,
                                            geometry=geometry, max_windows=args.max_windows)
        for (index, _, original, _), windows in zip(batch, per_image):
            yield cause27.LabelJob(keys[index], windows, features.working_size(*original, geometry), tuple(original),
                                   cluster_to_class, None if args.skip_crf else paths[index], logits_size, geometry)


def check_arguments(args: argparse.Namespace) -> tuple[float, ...]:
    """The parsed ``--scales``; sizes and counts that cannot work are an InputError."""
    try:
        scales = cause27.parse_scales(args.scales)
    except ValueError:
        raise InputError(f"--scales must be comma-separated positive numbers (e.g. 0.75,1.0,1.5), "
                         f"got {args.scales!r}.") from None
    for flag in ("batch_size", "logits_h", "logits_w"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag} must be at least 1, got {getattr(args, flag)}.")
    if args.max_windows is not None and args.max_windows < 1:
        raise InputError(f"--max_windows must be at least 1, got {args.max_windows}.")
    return scales


def run_hungarian(model: torch.nn.Module, probe: torch.nn.Module, root: Path, limit: int | None,
                  device: torch.device, geometry: features.Geometry = features.DINOV2_GEOMETRY) -> dict:
    """Match clusters to classes on val centre crops (one window each)."""
    images, labels = cs.image_paths(root, "val"), cs.label_ids_paths(root, "val")
    keys = list(images)[:limit] if limit else list(images)
    counts = np.zeros((cause27.NUM, cause27.NUM), np.int64)
    crop = geometry.crop
    for key in tqdm(keys, desc="Hungarian matching (val)", unit="img"):
        image = features.preprocess(cause27.centre_crop(cs.read_rgb(images[key]), crop), geometry)
        windows = cause27.window_log_probs(features.crop_features(model, [image], device, geometry=geometry)[0], probe)
        log_probs = F.interpolate(torch.from_numpy(windows.maps), size=(crop, crop), mode="bilinear",
                                  align_corners=False)[0]
        clusters = log_probs.argmax(dim=0).numpy()
        counts += cause27.histogram(clusters, cause27.centre_crop(cs.load_label_ids(labels[key]), crop))
    mapping = cause27.hungarian(counts)
    mapping["images"] = len(keys)
    return mapping


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    scales = check_arguments(args)
    if not args.skip_crf and args.mode != "hungarian":
        crf.require()
    root: Path = args.cityscapes_root
    output_dir = args.output_dir or root / "pseudo_semantic_cause"
    labels_dir = root / args.output_subdir if args.output_subdir else output_dir
    device = pick_cause27_device(args.device, args.gpu)
    model, probe, geometry, checkpoint_files = load_networks(args)
    model = model.to(device)
    manifest = RunManifest("cause27", args)
    manifest.add_checkpoints(checkpoint_files)
    if args.mode in ("hungarian", "all"):
        mapping = run_hungarian(model, probe, root, args.limit, device, geometry)
        write_json(output_dir / MAPPING_FILE, mapping)
        log.info("27-class mIoU of the matched clusters on val centre crops: %.2f", mapping["miou_27class"])
    if args.mode in ("generate", "all"):
        mapping_path = output_dir / MAPPING_FILE
        if not mapping_path.is_file():
            raise InputError(f"{mapping_path}: no Hungarian mapping yet; run --mode hungarian first.")
        cluster_to_class = np.array(json.loads(mapping_path.read_text())["cluster_to_class"], np.uint8)
        for split in ("train", "val") if args.split == "both" else (args.split,):
            images = cs.image_paths(root, split)
            keys = list(images)[: args.limit] if args.limit else list(images)
            jobs = label_jobs(model, probe, keys, [images[k] for k in keys], cluster_to_class, args, scales,
                              geometry, device, f"CAUSE-27 {split}")
            for key, classes, probabilities in crf.map_label_jobs(cause27.class_map, jobs, not args.skip_crf,
                                                                  args.crf_workers):
                if probabilities is not None:
                    write_pt(cs.output_path(labels_dir, split, key, "_logits.pt"), probabilities)
                write_png(cs.output_path(labels_dir, split, key, ".png"), classes)
            manifest.write(labels_dir / split, extra={"images": len(keys), "scales": list(scales),
                                                      "device": str(device)})
    return 0
