"""``pseudo-labels run``: the same files as the individual commands, stages left out, one line per stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pseudo_labels.cli import cups, panoptic, run, sweep
from pseudo_labels.pipeline.config import load_config, resolve

K = 24
"""The fixture datasets' k (tests/pipeline/conftest.py)."""
SUBDIR = f"pseudo_semantic_raw_k{K}"

OUTPUTS = (f"sweep_k{K}_spidepth_val.json", f"cups_pseudo_labels_k{K}", "panoptic_pseudolabels")
RUN_ARGS = ["--stages", "sweep,cups,panoptic", "semantics.centroids=fit", f"semantics.k={K}",
            "sweep.grad_thresholds=[0.2]", "sweep.min_areas=[500]", "instances.min_area=500", "workers=1"]


def outputs(root: Path) -> dict[str, bytes]:
    """Every output file's bytes (manifests, which hold times and arguments, left out)."""
    files = {}
    for name in OUTPUTS:
        path = root / name
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            if not file.name.startswith("manifest") and not file.name.endswith(".manifest.json"):
                files[str(file.relative_to(root))] = file.read_bytes()
    return files


def remove_outputs(root: Path) -> None:
    for path in root.iterdir():
        if path.name in OUTPUTS or path.name.startswith(f"sweep_k{K}"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_run_writes_what_the_commands_write(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, centroids = str(dataset), str(dataset / SUBDIR / "kmeans_centroids.npz")
    assert sweep.main(["--cityscapes_root", root, "--split", "val", "--semantic_subdir", SUBDIR,
                       "--grad_thresholds", "0.2", "--min_areas", "500", "--workers", "1"]) == 0
    assert cups.main(["--cityscapes_root", root, "--split", "train", "--semantic_subdir", SUBDIR, "--output_subdir",
                      f"cups_pseudo_labels_k{K}", "--num_classes", str(K), "--centroids_path", centroids,
                      "--depth_instances", "--grad_threshold", "0.2", "--min_instance_area", "500",
                      "--workers", "1"]) == 0
    assert panoptic.main(["--cityscapes_root", root, "--split", "train", "--semantic_subdir", SUBDIR,
                          "--centroids_path", centroids, "--min_area", "500", "--workers", "1"]) == 0
    expected = outputs(dataset)
    remove_outputs(dataset)
    capsys.readouterr()
    assert run.main(["--config", "k80_depth", "--cityscapes_root", root, *RUN_ARGS]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(expected) > 10 and outputs(dataset) == expected
    assert [line.split(":")[0] for line in lines] == ["sweep", "cups train", "panoptic train"]
    assert lines[1].endswith(f"-> {dataset / f'cups_pseudo_labels_k{K}'}") and "tau 0.20, A_min 500" in lines[1]
    written = dataset / "runs" / "k80_depth" / "config.yaml"
    replayed = resolve(load_config(written))
    assert replayed.instances.min_area == 500 and replayed.stages == ["sweep", "cups", "panoptic"]
    assert run.main(["--config", str(written)]) == 0  # the replay resumes: same files
    assert outputs(dataset) == expected


def test_a_stage_left_out_names_the_missing_input(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.rmtree(dataset / "depth_spidepth" / "train")
    with pytest.raises(SystemExit) as info:
        run.main(["--config", "k80_depth", "--cityscapes_root", str(dataset), *RUN_ARGS])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert f"cups needs train depth maps {dataset / 'depth_spidepth' / 'train'} (made by stage depth" in err
    assert "panoptic needs train depth maps" in err and "sweep needs" not in err
    assert not (dataset / f"sweep_k{K}_spidepth_val.json").exists()  # checked before anything ran
