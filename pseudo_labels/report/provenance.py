"""Where a report's data comes from: synthetic or real, and what made its semantics and depth.

Read from the sweep's manifest (the dataset root it names), the dataset's
``synthetic_{split}.json`` marker (:mod:`pseudo_labels.data.synthetic`) and the
sources the sweep JSON records (:mod:`pseudo_labels.data.sources`); for older
JSONs without them, from the dataset's folders when they are on this machine.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.data.sources import split_sources
from pseudo_labels.data.synthetic import marker_path

SYNTHETIC_BANNER = "SYNTHETIC DATA — not a result on Cityscapes"


@dataclass(frozen=True)
class Origin:
    """Where the evaluated data comes from: ``synthetic`` True/False, or None when it cannot be told."""

    synthetic: bool | None
    text: str


def _roots(sweep_json: Path, record: dict) -> list[Path]:
    """Where the dataset may be: the root the sweep's manifest names, then the centroid file's grandparent
    (each as given and relative to the JSON's folder)."""
    candidates: list[Path] = []
    manifest = Path(sweep_json).with_name(f"{Path(sweep_json).stem}.manifest.json")
    try:
        candidates.append(Path(json.loads(manifest.read_text())["arguments"]["cityscapes_root"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    centroids = record.get("inputs", {}).get("centroids", {}).get("path")
    if centroids:
        candidates.append(Path(centroids).parent.parent)
    return [place for root in candidates for place in (root, Path(sweep_json).parent / root)]


def sources_text(sweep_json: Path, record: dict) -> str:
    """What made the semantics and the depth, as the sweep JSON records it (older JSONs: read from the dataset)."""
    sources = record.get("sources")
    if sources is None:
        root = next((r for r in _roots(sweep_json, record) if (r / record["semantic_subdir"]).is_dir()), None)
        if root is None:
            return ("Sources: not recorded in this sweep JSON, and its dataset is not on this machine: what made the "
                    f"semantics (`{record.get('semantic_subdir')}`) and the depth (`{record['depth_subdir']}`) is unknown.")
        sources = split_sources(root, record["split"], record["semantic_subdir"], record["depth_subdir"])
    text = f"Semantics: {sources['semantics']['text']} (`{record.get('semantic_subdir')}`)."
    if "depth" in sources:
        text += f" Depth: {sources['depth']['text']} (`{record['depth_subdir']}`)."
    return text


def data_origin(sweep_json: Path, record: dict, relative_to: Path | None = None) -> Origin:
    """Synthetic or not, from the dataset root named by the sweep's manifest (or its centroid path).

    Synthetic splits carry ``{root}/synthetic_{split}.json`` (written by
    :mod:`pseudo_labels.data.synthetic`); a root without it is taken as real data.
    ``relative_to``: the root is named relative to this folder (the committed
    reports name no absolute path, :mod:`pseudo_labels.report.refresh`).
    """
    split = record.get("split", "val")
    for found in _roots(sweep_json, record):
        place = Path(os.path.relpath(found, relative_to)).as_posix() if relative_to is not None else found
        marker = marker_path(found, split)
        if marker.is_file():
            try:
                info = json.loads(marker.read_text())
            except ValueError:
                info = {}
            return Origin(True, f"{SYNTHETIC_BANNER}. The {split} images under `{place}` are synthetic street "
                                f"scenes drawn by `pseudo-labels synthetic` ({info.get('num_images', '?')} images, "
                                f"seed {info.get('seed', '?')}, marker `{marker.name}`); these numbers say nothing "
                                f"about Cityscapes.")
        if (found / "leftImg8bit" / split).is_dir():
            return Origin(False, f"Data: the {split} images under `{place}` (no synthetic marker "
                                 f"`{marker.name}` there).")
    return Origin(None, "Data origin unknown: the sweep's manifest and centroid path lead to no dataset root on this "
                        "machine, so it cannot be told whether the data was synthetic.")
