"""Weight-free stand-in features and the overclustering they give: what the demo runs without network weights.

Per pixel of the CAUSE working grid: its RGB (normalised as the network input),
the local spread of each channel and its height in the image, pooled to patch
level exactly like the network features. A stand-in, documented as such: it
lets the clustering, the assignment and every stage after them run without
weights; its numbers say nothing about CAUSE.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from tqdm import tqdm

from pseudo_labels.core.fileio import write_npz, write_png
from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.sources import STAND_IN_COMMAND
from pseudo_labels.semantics import clustering, features

TEXTURE_WINDOW = 7
"""Side of the window the local colour spread is measured in (working-grid pixels)."""


def stand_in_features(rgb: np.ndarray) -> torch.Tensor:
    """(7, H', W') weight-free features at the CAUSE working size: RGB, local RGB spread, image height.

    A stand-in for the network, documented as such: it lets the clustering,
    assignment and everything after them run without weights.
    """
    height, width = features.working_size(*rgb.shape[:2])
    image = features.preprocess(rgb)  # the same Pillow resize and normalisation as the network input
    spread = np.stack([np.sqrt(np.maximum(ndimage.uniform_filter(c * c, TEXTURE_WINDOW)
                                          - ndimage.uniform_filter(c, TEXTURE_WINDOW) ** 2, 0)) for c in image])
    rows = np.broadcast_to(np.linspace(-1, 1, height, dtype=np.float32)[:, None], (height, width))[None]
    return torch.from_numpy(np.concatenate([image, spread, rows]).astype(np.float32))


def stand_in_semantics(root: Path, k: int, splits: Sequence[str], images: Mapping[str, Path] | None = None) -> Path:
    """Fit k-means on val stand-in features (majority vote on val GT) and write raw cluster PNGs for ``splits``.

    ``images`` (``key -> file``, the frames of another layout, whose maps go to the one split given): fit
    label-free on them instead (no ground truth anywhere; ``cluster_to_class`` left 255) and label them, each map
    at its frame's size.
    """
    out = root / f"pseudo_semantic_raw_k{k}"
    if images is not None and len(splits) != 1:
        raise ValueError("the frames of another layout are labelled into one split")
    fit_images = cs.image_paths(root, "val") if images is None else images
    labels = None if images is not None else cs.label_ids_paths(root, "val")
    sampler = clustering.FitSampler(label_free=labels is None)
    for key, path in tqdm(fit_images.items(), desc="stand-in features (fit)", unit="img"):
        sampler.add(features.patch_features(stand_in_features(cs.read_rgb(path))),
                    None if labels is None else cs.load_train_ids(labels[key]))
    fitted = clustering.fit(sampler, k)
    write_npz(out / "kmeans_centroids.npz", fitted.to_npz())
    manifest = RunManifest(STAND_IN_COMMAND, {"cityscapes_root": str(root), "k": k, "splits": list(splits),
                                              "label_free": labels is None})
    for split in splits:
        keys = cs.image_paths(root, split) if images is None else images
        for key, path in tqdm(keys.items(), desc=f"clusters {split}", unit="img"):
            rgb = cs.read_rgb(path)
            clusters, _ = features.assign_clusters(stand_in_features(rgb), fitted.centroids)
            write_png(cs.output_path(out, split, key, ".png"), cs.resize_nearest(clusters, rgb.shape[:2]))
        # says what made these maps (pseudo_labels.data.sources reads it): stand-in features, no network
        manifest.write(out / split, extra={"features": "stand-in", "images": len(keys)})
    return out
