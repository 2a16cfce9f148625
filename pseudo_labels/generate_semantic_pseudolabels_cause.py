"""CAUSE-27 baseline: CAUSE's own 27 clusters, Hungarian-matched on val, as 27-class PNGs.

    python pseudo_labels/generate_semantic_pseudolabels_cause.py --mode all --cityscapes_root R \\
        --checkpoint_dir checkpoints --split both --skip_crf

``hungarian`` matches the 27 clusters to the 27 CAUSE classes (labelIds 7..33)
on val centre crops and writes ``{output_dir}/hungarian_mapping.json`` -- an
evaluation step that reads val ground truth. ``generate`` writes
``{output_dir}/{split}/{city}/{stem}.png`` with CAUSE class ids 0..26 (sliding
322-windows, flip averaging, probe log-probabilities averaged over windows);
``remap_cause27_to_trainid.py`` turns them into trainIds. ``all`` does both.
Without ``--skip_crf`` the dense CRF (:mod:`pseudo_labels.crf`, softmax
temperature 3) refines each map before the class mapping, as the original.
Needs ``cluster_tr.pth`` beside the other CAUSE files.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from pseudo_labels import cause27, crf, features, semantics
from pseudo_labels import cityscapes as cs
from pseudo_labels.cli_help import HelpFormatter
from pseudo_labels.devices import pick_device
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import write_json, write_png
from pseudo_labels.manifest import RunManifest
from refs.cause.model import CHECKPOINT_FILES, CLUSTER_FILE, CheckpointError, load_cause, load_cluster_probe

log = logging.getLogger("cause27")
MAPPING_FILE = "hungarian_mapping.json"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--mode", choices=("hungarian", "generate", "all"), default="all")
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--output_dir", type=Path, default=None, help="default: {root}/pseudo_semantic_cause")
    parser.add_argument("--checkpoint_dir", type=Path, default=Path("checkpoints"),
                        help="flat folder with " + ", ".join((*CHECKPOINT_FILES, CLUSTER_FILE)))
    parser.add_argument("--split", choices=("train", "val", "both"), default="both", help="split(s) to generate")
    parser.add_argument("--batch_size", type=int, default=1, help="images per network batch")
    parser.add_argument("--skip_crf", action="store_true", help="no dense CRF (else needs requirements-crf.txt)")
    parser.add_argument("--crf_workers", type=int, default=None,
                        help="processes running the CRF (default: CPUs, at most 8)")
    parser.add_argument("--device", default=None, help="cuda, cpu, auto")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images (matching and output)")
    return parser


def run_hungarian(model: torch.nn.Module, probe: torch.nn.Module, root: Path, limit: int | None,
                  device: torch.device) -> dict:
    """Match clusters to classes on val centre crops."""
    images, labels = cs.image_paths(root, "val"), cs.label_ids_paths(root, "val")
    keys = list(images)[:limit] if limit else list(images)
    counts = np.zeros((cause27.NUM, cause27.NUM), np.int64)
    for key in tqdm(keys, desc="Hungarian matching (val)", unit="img"):
        crop = features.preprocess(cause27.centre_crop(cs.read_rgb(images[key])))
        windows = cause27.window_log_probs(features.crop_features(model, [crop], device)[0], probe)
        log_probs = F.interpolate(torch.from_numpy(windows.maps), size=(features.CROP, features.CROP), mode="bilinear",
                                  align_corners=False)[0]
        clusters = log_probs.argmax(dim=0).numpy()
        counts += cause27.histogram(clusters, cause27.centre_crop(cs.load_label_ids(labels[key])))
    mapping = cause27.hungarian(counts)
    mapping["images"] = len(keys)
    return mapping


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.skip_crf and args.mode != "hungarian":
        crf.require()
    root: Path = args.cityscapes_root
    output_dir = args.output_dir or root / "pseudo_semantic_cause"
    device = pick_device(args.device)
    try:
        model = load_cause(args.checkpoint_dir).to(device)
        probe = load_cluster_probe(args.checkpoint_dir)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    manifest = RunManifest("cause27", args)
    if args.mode in ("hungarian", "all"):
        mapping = run_hungarian(model, probe, root, args.limit, device)
        write_json(output_dir / MAPPING_FILE, mapping)
        log.info("27-class mIoU of the matched clusters on val centre crops: %.2f", mapping["miou_27class"])
    if args.mode in ("generate", "all"):
        mapping_path = output_dir / MAPPING_FILE
        if not mapping_path.is_file():
            raise InputError(f"{mapping_path}: no Hungarian mapping yet; run --mode hungarian first.")
        cluster_to_class = np.array(json.loads(mapping_path.read_text())["cluster_to_class"], np.uint8)
        settings = semantics.ExtractSettings(device, args.batch_size)
        for split in ("train", "val") if args.split == "both" else (args.split,):
            images = cs.image_paths(root, split)
            keys = list(images)[: args.limit] if args.limit else list(images)
            windows = semantics.image_windows(model, split, keys, [images[k] for k in keys], settings,
                                              f"CAUSE-27 {split}")
            jobs = ((key, cause27.window_log_probs(maps, probe), original, cluster_to_class,
                     None if args.skip_crf else images[key]) for key, maps, original in windows)
            for key, classes in crf.map_label_jobs(cause27.class_map, jobs, not args.skip_crf, args.crf_workers):
                write_png(cs.output_path(output_dir, split, key, ".png"), classes)
            manifest.write(output_dir / split, extra={"images": len(keys)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
