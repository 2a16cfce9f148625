"""How semantic quality grows with k: k-means on CAUSE 90-d features and on raw DINOv2 768-d features.

    python pseudo_labels/overclustering_cause.py --cityscapes_root R --split val
    python pseudo_labels/overclustering_cause.py --cityscapes_root R --split val \\
        --cause_cache FEATURE_CACHE --dinov2_subdir dinov2_features --k_values 27,50,80,100,300

Without ``--cause_cache`` the network runs, as in the original: the CAUSE
release files in ``--checkpoint_dir`` (the semantics stage's flat folder) give
per image the flip-averaged window features exactly as the semantics stage
computes and caches them, and, from the same pass, the backbone's patch tokens
of the unmirrored windows (the original's "DINOv2-768dim" features); both are
stitched like the features (bilinear to the window, overlaps averaged) and
pooled to the 23 x 46 patch grid, and kept in memory (about 3.6 MB per image).
``--cause_cache`` reads the cached CAUSE features instead (``--feature_cache`` of
``generate_overclustered_semantics.py``), ``--dinov2_subdir`` the tokens of
``extract_dinov2_features.py`` (32 x 64 patch tokens).

For each feature source, patch-level vectors are sampled as the semantics stage
fits (up to 2000 non-void patches per image, ``RandomState(42)``,
L2-normalised), MiniBatchKMeans runs for every k, each cluster takes the
majority GT class of its samples, and every non-void patch of every image is
then assigned (cosine argmax) and scored: mIoU and per-class IoU at the patch
grid (GT resized with Pillow NEAREST). Writes one JSON and a Markdown table.
Reads gtFine: an analysis tool.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import clustering, features, cluster_maps as semantics
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.evaluation.semantic import confusion, semantic_scores
from pseudo_labels.core.fileio import prepare_output_file, read_npy, write_json, write_text
from pseudo_labels.core.manifest import source_fingerprint
from refs.cause.model import CHECKPOINT_FILES, CauseFeatures, CheckpointError, load_cause
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("overclustering")

CAUSE_SOURCE, DINOV2_SOURCE = "CAUSE (90-d)", "DINOv2 (768-d)"

Loader = Callable[[str], np.ndarray]  # key -> (C, h, w) patch features


def cause_loader(cache: Path, split: str, images: dict[str, Path]) -> Loader:
    """Patch features from cached crop features (working size from the image's own size)."""
    def load(key: str) -> np.ndarray:
        size = features.working_size(*cs.read_png(images[key]).shape[:2])
        path = semantics.cache_path(cache, split, key)
        windows = semantics.load_cached(path, size, source_fingerprint(images[key]))
        if windows is None:
            raise InputError(f"{path}: no cached CAUSE features made from {images[key]}. Fill the cache with "
                             f"generate_overclustered_semantics.py --feature_cache {cache}.")
        return features.patch_features(features.full_resolution(windows))
    return load


def dinov2_loader(folder: Path, split: str) -> Loader:
    """Patch tokens written by ``extract_dinov2_features.py``, as (768, 32, 64)."""
    meta = json.loads((folder / split / "metadata.json").read_text())
    grid = (meta["h_patches"], meta["w_patches"])

    def load(key: str) -> np.ndarray:
        tokens = read_npy(cs.output_path(folder, split, key, ".npy"), "Re-run extract_dinov2_features.py.").astype(np.float32)
        return tokens.T.reshape(-1, *grid)
    return load


def network_patch_features(model: CauseFeatures, images: dict[str, Path], keys: Sequence[str],
                           device: torch.device) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per image: CAUSE (90, h, w) and backbone-token (768, h, w) patch features from one network pass.

    The CAUSE maps are :func:`features.crop_features`' (what the semantics stage
    computes and caches), pooled as :func:`cause_loader` pools cached ones.
    """
    cause, tokens = {}, {}
    for key in tqdm(keys, desc="features", unit="img"):
        image = features.preprocess(cs.read_rgb(images[key]))
        (windows,), (token_windows,) = features.crop_features_and_tokens(model, [image], device)
        cause[key] = features.patch_features(features.full_resolution(windows))
        tokens[key] = features.pooled_patch_features(token_windows)
    return cause, tokens


def rows_and_labels(patches: np.ndarray, train_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit patch vectors and their GT trainIds (Pillow NEAREST to the grid), void dropped."""
    channels, height, width = patches.shape
    labels = cs.resize_nearest(train_ids, (height, width)).ravel()
    rows = patches.reshape(channels, -1).T
    valid = labels != cs.IGNORE_ID
    rows = rows[valid]
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8), labels[valid]


def analyse(load: Loader, keys: Sequence[str], gt: Callable[[str], np.ndarray], k_values: Sequence[int],
            seed: int = clustering.DEFAULT_SEED) -> dict[int, dict]:
    """Per k: mIoU / pixel accuracy / per-class IoU (percent) of the majority-vote map at the patch grid."""
    sampler = clustering.FitSampler(seed=seed)
    for key in tqdm(keys, desc="sample", unit="img"):
        sampler.add(load(key), gt(key))
    vectors, labels = sampler.matrix()
    fitted = {}
    for k in k_values:
        if len(vectors) < k:
            raise InputError(f"{len(vectors)} sampled vectors for k = {k}: use more images or smaller k values.")
        centroids, assignment, _ = clustering.fit_minibatch(vectors, k, seed)
        fitted[k] = (torch.from_numpy(clustering.normalise_rows(centroids)), clustering.majority_classes(assignment, labels, k))
    matrices = {k: np.zeros((cs.NUM_CLASSES, cs.NUM_CLASSES), np.int64) for k in k_values}
    for key in tqdm(keys, desc="score", unit="img"):
        rows, truth = rows_and_labels(load(key), gt(key))
        similarity = torch.from_numpy(rows.astype(np.float64))
        for k, (centroids, table) in fitted.items():
            predicted = table[(similarity @ centroids.T).argmax(dim=1).numpy()]
            matrices[k] += confusion(predicted, truth)
    return {k: semantic_scores(matrices[k]) for k in k_values}


def markdown(results: dict[str, dict[int, dict]]) -> str:
    lines = ["| features | k | mIoU | pixel accuracy |", "|---|---|---|---|"]
    for source, per_k in results.items():
        for k, scores in per_k.items():
            lines.append(f"| {source} | {k} | {scores['mIoU']:.2f} | {scores['pixel_accuracy']:.2f} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    """The original script's flags and defaults, plus the file sources and ``--output``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help=f"flat folder with {', '.join(CHECKPOINT_FILES)} (default: {CHECKPOINT_DIR}); "
                             f"used unless --cause_cache is given")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N, mps or cpu")
    parser.add_argument("--k_values", default="27,50,100", help="comma-separated k values")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    parser.add_argument("--cause_cache", type=Path, default=None,
                        help="read CAUSE features from this --feature_cache folder of the semantics stage "
                             "instead of running the network")
    parser.add_argument("--dinov2_subdir", default=None,
                        help="read DINOv2 tokens from this output folder of extract_dinov2_features.py")
    parser.add_argument("--output", type=Path, default=None, help="JSON (default: {root}/overclustering_{split}.json)")
    return parser


def parse_k_values(text: str) -> list[int]:
    """``"27,50,100"`` -> [27, 50, 100]; anything but positive integers is an InputError."""
    try:
        k_values = [int(k) for k in text.split(",")]
    except ValueError:
        raise InputError(f"--k_values must be comma-separated integers, got {text!r}.") from None
    if any(k < 1 for k in k_values):
        raise InputError(f"--k_values must be positive, got {text!r}.")
    return k_values


def network_sources(checkpoint_dir: Path, device_name: str, images: dict[str, Path],
                    keys: Sequence[str]) -> tuple[Loader, Loader]:
    """CAUSE and backbone-token loaders over features computed once, up front, by the network."""
    try:
        model = load_cause(checkpoint_dir)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(f"{exc} (or pass --cause_cache to read cached features instead)") from None
    device = pick_device(device_name, mps=True)
    cause, tokens = network_patch_features(model.to(device), images, keys, device)
    return cause.__getitem__, tokens.__getitem__


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    k_values = parse_k_values(args.k_values)
    root: Path = args.cityscapes_root
    images = cs.image_paths(root, args.split)
    labels = cs.label_ids_paths(root, args.split)
    keys = [k for k in images if k in labels][: args.limit or None]
    if not keys:
        raise InputError(f"no image of {root}/leftImg8bit/{args.split} has gtFine labelIds: the analysis needs them.")
    sources: dict[str, Loader] = {}
    origins: dict[str, str] = {}
    if args.cause_cache:
        sources[CAUSE_SOURCE] = cause_loader(args.cause_cache, args.split, images)
        origins[CAUSE_SOURCE] = f"cache {args.cause_cache}"
    else:
        checkpoint_dir = args.checkpoint_dir or CHECKPOINT_DIR
        sources[CAUSE_SOURCE], tokens = network_sources(checkpoint_dir, args.device, images, keys)
        origins[CAUSE_SOURCE] = f"network {checkpoint_dir}"
        if not args.dinov2_subdir:
            sources[DINOV2_SOURCE] = tokens
            origins[DINOV2_SOURCE] = f"backbone tokens of the CAUSE network {checkpoint_dir} (322 windows)"
    if args.dinov2_subdir:
        sources[DINOV2_SOURCE] = dinov2_loader(root / args.dinov2_subdir, args.split)
        origins[DINOV2_SOURCE] = f"extract_dinov2_features.py output {root / args.dinov2_subdir}"
    results = {name: analyse(load, keys, lambda key: cs.load_train_ids(labels[key]), k_values)
               for name, load in sources.items()}
    output = prepare_output_file(args.output or root / f"overclustering_{args.split}.json")
    write_json(output, {"split": args.split, "images": len(keys), "k_values": k_values, "sources": origins,
                        "results": {name: {str(k): v for k, v in per_k.items()} for name, per_k in results.items()}})
    table = markdown(results)
    write_text(output.with_suffix(".md"), table)
    print(table)
    return 0
