"""Run manifests record arguments, versions, input hashes and timing."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pseudo_labels.core.fileio import sha256_file
from pseudo_labels.core.manifest import RunManifest, package_versions


def test_manifest_records_arguments_inputs_and_versions(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    files = []
    for name in ("a.png", "b.png"):
        (tmp_path / "in" / name).write_bytes(name.encode())
        files.append(tmp_path / "in" / name)
    (tmp_path / "ckpt.pth").write_bytes(b"weights")
    args = argparse.Namespace(k=80, eval_size=(512, 1024), root=tmp_path)
    manifest = RunManifest("sweep", args)
    manifest.add_inputs({"semantic": files}, root=tmp_path)
    manifest.add_checkpoints({"segment_tr": tmp_path / "ckpt.pth"})
    path = manifest.write(tmp_path / "out", extra={"images": 2})
    record = json.loads(path.read_text())
    assert record["command"] == "sweep"
    assert record["arguments"] == {"k": 80, "eval_size": [512, 1024], "root": str(tmp_path)}
    assert record["inputs"]["semantic"]["count"] == 2 and len(record["inputs"]["semantic"]["sha256"]) == 64
    assert record["checkpoints"]["segment_tr"]["sha256"] == sha256_file(tmp_path / "ckpt.pth")
    assert record["versions"]["numpy"] and record["versions"]["pseudo-labels"] == "0.1.0"
    assert record["images"] == 2 and record["elapsed_s"] >= 0


def test_package_versions_reports_missing_as_none() -> None:
    assert package_versions(["numpy", "surely-not-installed-xyz"])["surely-not-installed-xyz"] is None


def test_claim_removes_temporary_files_of_killed_runs(tmp_path: Path) -> None:
    from pseudo_labels.core import fileio

    stale = tmp_path / "val" / "city" / f"{fileio.TEMP_PREFIX}{fileio._HOST_TAG}-999999999-ffff"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half")
    kept = tmp_path / "val" / "city" / "a.png"
    kept.write_bytes(b"done")
    RunManifest("instances", {"x": 1}).claim(tmp_path, {"x": 1})
    assert not stale.exists() and kept.exists()
