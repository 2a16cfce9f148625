"""Where a split's semantics and depth come from: a network and its checkpoints, stand-in features, or the synthetic data.

Read from what the stages leave behind, never guessed from folder names: the
manifest the semantics, cause27 and depth stages write in each split folder
(``{root}/{subdir}/{split}/manifest.json``, with the sha256 of every checkpoint
file), the one the stand-in semantics write, and the ``synthetic_{split}.json``
marker of a synthetic dataset, whose generator writes the depth maps itself
(from the scene's geometry) and, with ``num_clusters``, a degraded copy of the
ground truth as cluster maps. A folder that none of these explains is "unknown".
"""

from __future__ import annotations

import json
from pathlib import Path

from pseudo_labels.core.manifest import MANIFEST_NAME
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.synthetic import marker_path

NETWORKS = {
    "semantics": "CAUSE (DINOv2 ViT-B/14 + Segment_TR head) features, k-means clusters",
    "cause27": "CAUSE-27 (CAUSE's own 27 clusters)",
    "depth": "SPIdepth",
}
"""What each network stage's manifest ``command`` means."""
STAND_IN_COMMAND = "stand_in_semantics"
"""The ``command`` of the stand-in semantics' manifest."""


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _hashes(manifest: dict) -> dict[str, str]:
    return {name: entry["sha256"] for name, entry in (manifest.get("checkpoints") or {}).items()
            if isinstance(entry, dict) and entry.get("sha256")}


def folder_source(root: Path, subdir: str, split: str, what: str) -> dict:
    """``{"kind", "name", "text", "checkpoints"}`` of ``{root}/{subdir}/{split}`` (``what``: "semantics" or "depth").

    kind: "network" (a network stage's manifest, with checkpoint hashes),
    "stand-in" (the weight-free stand-in features), "synthetic" (written by
    the synthetic generator) or "unknown".
    """
    manifest = _read(Path(root) / subdir / split / MANIFEST_NAME) or {}
    command = manifest.get("command")
    if command in NETWORKS:
        hashes = _hashes(manifest)
        listed = ", ".join(f"`{Path(name).name}` sha256 {sha[:12]}" for name, sha in sorted(hashes.items()))
        return {"kind": "network", "name": NETWORKS[command], "checkpoints": hashes,
                "text": f"{NETWORKS[command]}" + (f" (checkpoints {listed})" if listed else " (no checkpoint recorded)")}
    if command == STAND_IN_COMMAND:
        return {"kind": "stand-in", "name": "stand-in features", "checkpoints": {},
                "text": "weight-free stand-in features (colour, local colour spread, image height; no network), "
                        "k-means clusters"}
    marker = _read(marker_path(root, split)) or {}
    if marker.get("synthetic"):
        if what == "depth" and subdir == marker.get("depth_subdir", cs.DEPTH_SUBDIR):
            return {"kind": "synthetic", "name": "synthetic depth", "checkpoints": {},
                    "text": "synthetic depth: the scene's distances drawn by `pseudo-labels synthetic` (no network)"}
        clusters = marker.get("num_clusters")
        if what == "semantics" and clusters and subdir == marker.get("prediction_subdir",
                                                                     f"pseudo_semantic_raw_k{clusters}"):
            return {"kind": "synthetic", "name": "synthetic clusters", "checkpoints": {},
                    "text": "synthetic clusters: a degraded copy of the ground truth drawn by `pseudo-labels "
                            "synthetic` (no features, no network)"}
    return {"kind": "unknown", "name": "unknown", "checkpoints": {},
            "text": f"unknown: no stage manifest in `{subdir}/{split}` says what made it"}


def split_sources(root: Path, split: str, semantic_subdir: str, depth_subdir: str | None) -> dict[str, dict]:
    """``{"semantics": ..., "depth": ...}`` (:func:`folder_source`) of the folders a sweep or export read."""
    sources = {"semantics": folder_source(root, semantic_subdir, split, "semantics")}
    if depth_subdir:
        sources["depth"] = folder_source(root, depth_subdir, split, "depth")
    return sources
