"""What made a split's semantics and depth, as the stages' manifests and the synthetic marker say."""

from __future__ import annotations

import json
from pathlib import Path

from pseudo_labels.core.manifest import RunManifest
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.sources import folder_source, split_sources
from pseudo_labels.evaluation.sweep_record import depth_name


def test_synthetic_folders_are_named_synthetic(synthetic_val: Path) -> None:
    sources = split_sources(synthetic_val, "val", "pseudo_semantic_raw_k24", cs.DEPTH_SUBDIR)
    assert sources["depth"]["kind"] == "synthetic" and "no network" in sources["depth"]["text"]
    assert sources["semantics"]["kind"] == "synthetic" and "degraded copy of the ground truth" in sources["semantics"]["text"]
    assert depth_name({"sources": sources, "depth_subdir": cs.DEPTH_SUBDIR}) == "synthetic depth"


def test_stage_manifests_name_the_network_and_its_checkpoints(tmp_path: Path) -> None:
    checkpoint = tmp_path / "weights.pth"
    checkpoint.write_bytes(b"not really weights")
    depth = RunManifest("depth", {"backbone": "convnextv2_huge"})
    depth.add_checkpoints({"weights.pth": checkpoint})
    depth.write(tmp_path / "depth_spidepth" / "val")
    RunManifest("stand_in_semantics", {"k": 8}).write(tmp_path / "clusters" / "val")
    found = folder_source(tmp_path, "depth_spidepth", "val", "depth")
    written = json.loads((tmp_path / "depth_spidepth" / "val" / "manifest.json").read_text())
    sha = written["checkpoints"]["weights.pth"]["sha256"]
    assert found["kind"] == "network" and found["name"] == "SPIdepth" and found["checkpoints"] == {"weights.pth": sha}
    assert sha[:12] in found["text"]
    assert folder_source(tmp_path, "clusters", "val", "semantics")["kind"] == "stand-in"
    unknown = folder_source(tmp_path, "elsewhere", "val", "depth")  # neither a manifest nor a synthetic marker
    assert unknown["kind"] == "unknown"
    assert depth_name({"sources": {"depth": unknown}, "depth_subdir": "elsewhere"}).startswith("depth of unknown source")
