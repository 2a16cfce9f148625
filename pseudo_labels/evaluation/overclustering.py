"""How semantic quality grows with k: k-means on CAUSE 90-d features and on raw DINOv2 768-d features.

The ``overclustering`` analysis. Feature sources: the CAUSE network (the
flip-averaged window features the semantics stage computes and caches, and from
the same pass the backbone's patch tokens of the unmirrored windows, both pooled
to the 23 x 46 patch grid and kept in memory, about 3.6 MB per image), or the
files of earlier runs (the semantics stage's ``--feature_cache``, the
``dinov2-features`` tokens, 32 x 64).

For each source, patch-level vectors are sampled as the semantics stage fits
(:class:`clustering.FitSampler`), MiniBatchKMeans runs for every k, each
cluster takes the majority GT class of its samples, and every non-void patch of
every image is assigned (cosine argmax) and scored at the patch grid (GT
resized with Pillow NEAREST). Reads gtFine: an analysis tool.
The scores are :mod:`pseudo_labels.evaluation.semantic`'s (confusion matrix, mIoU).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import prepare_output_file, read_npy, write_json, write_text
from pseudo_labels.core.manifest import source_fingerprint
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.semantic import confusion, semantic_scores
from pseudo_labels.semantics import cluster_maps, clustering, features
from refs.cause.model import CauseFeatures, CheckpointError, load_cause
from refs.checkpoints import CHECKPOINT_DIR

CAUSE_SOURCE, DINOV2_SOURCE = "CAUSE (90-d)", "DINOv2 (768-d)"

Loader = Callable[[str], np.ndarray]
"""Image key -> (C, h, w) patch features."""


def cause_loader(cache: Path, split: str, images: dict[str, Path]) -> Loader:
    """Patch features from cached crop features (working size from the image's own size)."""
    def load(key: str) -> np.ndarray:
        size = features.working_size(*cs.read_png(images[key]).shape[:2])
        path = cluster_maps.cache_path(cache, split, key)
        windows = cluster_maps.load_cached(path, size, source_fingerprint(images[key]))
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


def feature_sources(root: Path, split: str, images: dict[str, Path], keys: Sequence[str], *,
                    cause_cache: Path | None = None, dinov2_subdir: str | None = None,
                    checkpoint_dir: Path | None = None, device: str = "auto"
                    ) -> tuple[dict[str, Loader], dict[str, str]]:
    """(source name -> loader, source name -> where its features come from), CAUSE first.

    CAUSE features come from ``cause_cache`` or else the network (whose backbone
    tokens are then the DINOv2 source, unless ``dinov2_subdir`` names token files).
    """
    sources: dict[str, Loader] = {}
    origins: dict[str, str] = {}
    if cause_cache:
        sources[CAUSE_SOURCE] = cause_loader(cause_cache, split, images)
        origins[CAUSE_SOURCE] = f"cache {cause_cache}"
    else:
        checkpoint_dir = checkpoint_dir or CHECKPOINT_DIR
        sources[CAUSE_SOURCE], tokens = network_sources(checkpoint_dir, device, images, keys)
        origins[CAUSE_SOURCE] = f"network {checkpoint_dir}"
        if not dinov2_subdir:
            sources[DINOV2_SOURCE] = tokens
            origins[DINOV2_SOURCE] = f"backbone tokens of the CAUSE network {checkpoint_dir} (322 windows)"
    if dinov2_subdir:
        sources[DINOV2_SOURCE] = dinov2_loader(root / dinov2_subdir, split)
        origins[DINOV2_SOURCE] = f"extract_dinov2_features.py output {root / dinov2_subdir}"
    return sources, origins


def rows_and_labels(patches: np.ndarray, train_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit patch vectors and their GT trainIds (Pillow NEAREST to the grid), void dropped."""
    channels, height, width = patches.shape
    labels = cs.resize_nearest(train_ids, (height, width)).ravel()
    rows = patches.reshape(channels, -1).T
    valid = labels != cs.IGNORE_ID
    rows = rows[valid]
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-8), labels[valid]


def analyse(load: Loader, keys: Sequence[str], gt: Callable[[str], np.ndarray], k_values: Sequence[int],
            seed: int = clustering.DEFAULT_SEED, source: str = "the features") -> dict[int, dict]:
    """Per k: the semantic scores (mIoU / pixel accuracy / per-class IoU, percent) of the majority-vote map at the patch grid."""
    sampler = clustering.FitSampler(seed=seed)
    for key in tqdm(keys, desc="sample", unit="img"):
        sampler.add(load(key), gt(key))
    vectors, labels = sampler.matrix()
    fitted = {}
    for k in k_values:
        if len(vectors) < k:
            raise InputError(f"{source}: {len(vectors)} feature vectors sampled from {len(keys)} images, fewer than "
                             f"k = {k}: use more images (--limit) or smaller --k_values.")
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
    """The results as one Markdown table: source, k, mIoU, pixel accuracy."""
    lines = ["| features | k | mIoU | pixel accuracy |", "|---|---|---|---|"]
    for source, per_k in results.items():
        for k, scores in per_k.items():
            lines.append(f"| {source} | {k} | {scores['mIoU']:.2f} | {scores['pixel_accuracy']:.2f} |")
    return "\n".join(lines) + "\n"


def run_overclustering(root: Path, split: str, k_values: Sequence[int], *,
                       limit: int = 0, cause_cache: Path | None = None, dinov2_subdir: str | None = None,
                       checkpoint_dir: Path | None = None, device: str = "auto", output: Path | None = None) -> str:
    """The analysis of ``split`` (images with gtFine labelIds, the first ``limit``; 0: all) for every source and k.

    Writes the results as JSON to ``output`` (default
    ``{root}/overclustering_{split}.json``) and as a Markdown table beside it
    (``.md``); returns the table.
    """
    images = cs.image_paths(root, split)
    labels = cs.label_ids_paths(root, split)
    keys = [k for k in images if k in labels][: limit or None]
    if not keys:
        raise InputError(f"no image of {root}/leftImg8bit/{split} has gtFine labelIds: the analysis needs them.")
    sources, origins = feature_sources(root, split, images, keys, cause_cache=cause_cache,
                                       dinov2_subdir=dinov2_subdir, checkpoint_dir=checkpoint_dir, device=device)
    output = prepare_output_file(output or root / f"overclustering_{split}.json",  # checked before the work
                                 inputs=(root / "leftImg8bit" / split, root / "gtFine" / split))
    results = {name: analyse(load, keys, lambda key: cs.load_train_ids(labels[key]), k_values,
                             source=f"{name} ({origins[name]})" if name in origins else name)
               for name, load in sources.items()}
    write_json(output, {"split": split, "images": len(keys), "k_values": list(k_values), "sources": origins,
                        "results": {name: {str(k): v for k, v in per_k.items()} for name, per_k in results.items()}})
    table = markdown(results)
    write_text(output.with_suffix(".md"), table)
    return table
