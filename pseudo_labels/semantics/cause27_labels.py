"""The ``cause27`` stage: CAUSE's own 27 clusters, Hungarian-matched on val, written as 27-class PNGs.

``hungarian`` matches the 27 probe clusters to the 27 CAUSE classes (labelIds
7..33) on val centre crops (one window each) and writes
``{output_dir}/hungarian_mapping.json``: an evaluation step that reads val
ground truth. ``generate`` writes ``{labels_dir}/{split}/{city}/{stem}.png``
with class ids 0..26 (sliding windows, flip averaging, probe log-probabilities
averaged over windows and scales; :mod:`pseudo_labels.semantics.cause27`), with
``{stem}_logits.pt`` class probabilities beside them when asked, and a
manifest per split. ``all`` does both with one loaded network.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_json, write_png, write_pt
from pseudo_labels.core.manifest import RunManifest, RunOutputs
from pseudo_labels.core.parallel import default_workers, first_n
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import cause27, crf, features
from refs.cause import dinov3
from refs.cause.model import (CHECKPOINT_FILES, CLUSTER_FILE, CODEBOOK_FILE, SEGMENT_TR_FILE, CheckpointError,
                              load_cause, load_cause_dinov3, load_cluster_probe)
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("cause27")

MAPPING_FILE = "hungarian_mapping.json"
DINOV3_SUBDIR = "dinov3_vitl16"
"""Where the DINOv3 files are looked for inside the checkpoint folder, by default."""
GEOMETRIES = {"dinov2_vitb14": features.DINOV2_GEOMETRY,
              "dinov3_vitl16": features.Geometry(dinov3.CROP, dinov3.PATCH_SIZE)}
"""Window geometry of each backbone."""
BACKBONES = tuple(GEOMETRIES)
DEVICES = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True, kw_only=True)
class Cause27Options:
    """The ``cause27`` stage's settings: one field per command-line flag, same names, order and defaults.

    The manifest records them as the command's arguments, so a caller that
    builds them gets the manifest the command line writes. Not checked here (the
    command line checks them): ``scales`` parses, sizes and counts are >= 1,
    pydensecrf is there when the CRF runs.
    """

    mode: str = "all"
    """hungarian, generate or all."""
    cityscapes_root: Path
    output_dir: Path | None = None
    """Where the mapping goes (and the PNGs, without ``output_subdir``); None: ``{root}/pseudo_semantic_cause``."""
    checkpoint_dir: Path | None = None
    """None: :data:`CHECKPOINT_DIR`."""
    split: str = "both"
    batch_size: int = 1
    num_workers: int = 4
    skip_crf: bool = False
    device: str = "auto"
    gpu: int = 0
    limit: int = 0
    save_logits: bool = False
    logits_h: int = 32
    logits_w: int = 64
    scales: str = "1.0"
    """Comma-separated inference scales (:func:`cause27.parse_scales`)."""
    output_subdir: str | None = None
    """Write the PNGs under ``{root}/{output_subdir}`` instead of ``output_dir``."""
    sinder_checkpoint: Path | None = None
    backbone: str = "dinov2_vitb14"
    dinov3_checkpoint_dir: Path | None = None
    crf_workers: int | None = None
    max_windows: int | None = None
    overwrite: bool = False
    """Recompute into a folder made with other settings, removing the label files this run does not write."""

    @property
    def scale_values(self) -> tuple[float, ...]:
        """The parsed ``scales``."""
        return cause27.parse_scales(self.scales)

    @property
    def mapping_dir(self) -> Path:
        """Where ``hungarian_mapping.json`` is written and read."""
        return self.output_dir or self.cityscapes_root / "pseudo_semantic_cause"

    @property
    def labels_dir(self) -> Path:
        """Where the PNGs go: ``{root}/{output_subdir}``, else :attr:`mapping_dir`."""
        return self.cityscapes_root / self.output_subdir if self.output_subdir else self.mapping_dir


class Networks(NamedTuple):
    """The loaded network, its cluster probe, its window geometry and the checkpoint files (for the manifest)."""

    model: torch.nn.Module
    probe: torch.nn.Module
    geometry: features.Geometry
    files: dict[str, Path]


def pick_cause27_device(device: str, gpu: int) -> torch.device:
    """The original's choice: ``auto`` is CUDA device ``gpu``, else MPS, else CPU; ``cuda`` means ``cuda:{gpu}``."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device(f"cuda:{gpu}")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(f"cuda:{gpu}") if device == "cuda" else torch.device(device)


def load_networks(backbone: str = "dinov2_vitb14", checkpoint_dir: Path | None = None,
                  sinder_checkpoint: Path | None = None, dinov3_checkpoint_dir: Path | None = None) -> Networks:
    """The CAUSE network and probe of ``backbone`` (on the CPU); a missing or unfitting file is an InputError.

    ``sinder_checkpoint`` swaps the DINOv2 backbone for a repaired one of the
    same keys; ``dinov3_vitl16`` reads every file from ``dinov3_checkpoint_dir``
    (default ``{checkpoint_dir}/dinov3_vitl16``).
    """
    checkpoint_dir = checkpoint_dir or CHECKPOINT_DIR
    try:
        if backbone == "dinov3_vitl16":
            if sinder_checkpoint is not None:
                raise InputError("--sinder_checkpoint repairs the DINOv2 ViT-B/14 backbone; it does not apply to "
                                 "--backbone dinov3_vitl16. Drop one of them.")
            folder = dinov3_checkpoint_dir or checkpoint_dir / DINOV3_SUBDIR
            model, probe = load_cause_dinov3(folder)
            files = {"dinov3": next(folder.glob(dinov3.BACKBONE_GLOB)), "segment_tr": folder / SEGMENT_TR_FILE,
                     "cluster_tr": folder / CLUSTER_FILE, "modular": folder / CODEBOOK_FILE}
        else:
            if sinder_checkpoint is not None and not sinder_checkpoint.is_file():
                raise InputError(f"{sinder_checkpoint}: --sinder_checkpoint not found. Pass the SINDER-repaired "
                                 f"DINOv2 ViT-B/14 state dict (github.com/haoqiwang/sinder).")
            model = load_cause(checkpoint_dir, sinder_checkpoint)
            probe = load_cluster_probe(checkpoint_dir)
            files = {name: checkpoint_dir / name for name in (*CHECKPOINT_FILES, CLUSTER_FILE)}
            if sinder_checkpoint is not None:
                files["dinov2_vitb14_pretrain.pth"] = sinder_checkpoint
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    return Networks(model, probe, GEOMETRIES[backbone], files)


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


def label_jobs(networks: Networks, keys: Sequence[str], paths: Sequence[Path], cluster_to_class: np.ndarray,
               options: Cause27Options, device: torch.device, desc: str) -> Iterator[cause27.LabelJob]:
    """One :class:`cause27.LabelJob` per image, ``batch_size`` images (all their scales) per network pass."""
    scales = options.scale_values
    # no more reader processes than batches to read or CPUs to run them, none for a single batch
    batches = -(-len(paths) // options.batch_size)
    workers = 0 if batches <= 1 else max(0, min(options.num_workers, batches, default_workers()))
    loader = DataLoader(_ScaledImages(paths, scales, networks.geometry), batch_size=options.batch_size,
                        num_workers=workers, collate_fn=list)
    logits_size = (options.logits_h, options.logits_w) if options.save_logits else None
    for batch in tqdm(loader, desc=desc, unit="batch" if options.batch_size > 1 else "img"):
        for _, _, _, error in batch:
            if error:
                raise InputError(error)
        per_image = cause27.scale_log_probs(networks.model, networks.probe, [inputs for _, inputs, _, _ in batch],
                                            device, geometry=networks.geometry, max_windows=options.max_windows)
        for (index, _, original, _), windows in zip(batch, per_image):
            yield cause27.LabelJob(keys[index], windows, features.working_size(*original, networks.geometry),
                                   tuple(original), cluster_to_class, None if options.skip_crf else paths[index],
                                   logits_size, networks.geometry)


def run_hungarian(model: torch.nn.Module, probe: torch.nn.Module, root: Path, limit: int | None,
                  device: torch.device, geometry: features.Geometry = features.DINOV2_GEOMETRY) -> dict:
    """Match clusters to classes on val centre crops (one window each)."""
    images, labels = cs.image_paths(root, "val"), cs.label_ids_paths(root, "val")
    keys = first_n(images, limit)
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


def write_split_labels(networks: Networks, options: Cause27Options, split: str, cluster_to_class: np.ndarray,
                       device: torch.device, manifest: RunManifest) -> Path:
    """One split's class PNGs (and probabilities), then its manifest; returns the split folder."""
    images = cs.image_paths(options.cityscapes_root, split)
    keys = first_n(images, options.limit)
    labels_dir = options.labels_dir
    ends = (".png", "_logits.pt")  # the kinds of file a label folder holds; this run writes the logits only if asked
    written = ends if options.save_logits else ends[:1]
    manifest.claim(labels_dir / split, {
        "cluster_to_class": cluster_to_class.tolist(), "scales": list(options.scale_values),
        "crf": not options.skip_crf, "backbone": options.backbone, "limit": options.limit or None,
        "logits": [options.logits_h, options.logits_w] if options.save_logits else None,
        "checkpoints": {k: v["sha256"] for k, v in manifest.record["checkpoints"].items()}}, options.overwrite,
        inputs=(options.cityscapes_root / "leftImg8bit" / split, options.mapping_dir / MAPPING_FILE),
        outputs=RunOutputs.of([f"*/*{end}" for end in ends],
                              [cs.output_path(labels_dir, split, k, end) for k in keys for end in written]))
    jobs = label_jobs(networks, keys, [images[k] for k in keys], cluster_to_class, options, device,
                      f"CAUSE-27 {split}")
    for key, classes, probabilities in crf.map_label_jobs(cause27.class_map, jobs, not options.skip_crf,
                                                          options.crf_workers):
        if probabilities is not None:
            write_pt(cs.output_path(labels_dir, split, key, "_logits.pt"), probabilities)
        write_png(cs.output_path(labels_dir, split, key, ".png"), classes)
    manifest.write(labels_dir / split, extra={"images": len(keys), "scales": list(options.scale_values),
                                              "device": str(device)})
    return labels_dir / split


def run_cause27(options: Cause27Options) -> None:
    """The ``cause27`` stage: the Hungarian mapping (``hungarian``), the label maps (``generate``), or both."""
    device = pick_cause27_device(options.device, options.gpu)
    networks = load_networks(options.backbone, options.checkpoint_dir, options.sinder_checkpoint,
                             options.dinov3_checkpoint_dir)
    networks.model.to(device)  # in place, as every Module.to
    manifest = RunManifest("cause27", asdict(options))
    manifest.add_checkpoints(networks.files)
    mapping_path = options.mapping_dir / MAPPING_FILE
    if options.mode in ("hungarian", "all"):
        mapping = run_hungarian(networks.model, networks.probe, options.cityscapes_root, options.limit, device,
                                networks.geometry)
        write_json(mapping_path, mapping)
        log.info("27-class mIoU of the matched clusters on val centre crops: %.2f", mapping["miou_27class"])
    if options.mode in ("generate", "all"):
        if not mapping_path.is_file():
            raise InputError(f"{mapping_path}: no Hungarian mapping yet; run --mode hungarian first.")
        cluster_to_class = np.array(json.loads(mapping_path.read_text())["cluster_to_class"], np.uint8)
        for split in ("train", "val") if options.split == "both" else (options.split,):
            write_split_labels(networks, options, split, cluster_to_class, device, manifest)
