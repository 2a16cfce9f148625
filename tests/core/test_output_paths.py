"""No output is an input: one check, before anything is written, in every command that writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pseudo_labels.cli import evaluate_cups, remap_clusters, report, sweep
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import check_not_an_input, sha256_file

SEMANTIC = "pseudo_semantic_raw_k24"


def test_the_output_may_not_be_or_lie_inside_an_input(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "val").mkdir(parents=True)
    (data / "val" / "a.png").write_bytes(b"x")
    (tmp_path / "link").symlink_to(data)
    check_not_an_input(tmp_path / "out", [data, None])  # beside the input: fine
    check_not_an_input(tmp_path / "data.json", [data])
    for output in (data, data / "val" / "a.png", data / "new" / "x.json", tmp_path / "link" / "val"):
        with pytest.raises(InputError, match="overwrite what this run reads"):
            check_not_an_input(output, [data])


def _refused(capsys: pytest.CaptureFixture[str], main, argv: list[str]) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err


@pytest.fixture
def root(synthetic_val: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "root"
    shutil.copytree(synthetic_val, copy)
    return copy


def test_commands_refuse_to_write_over_their_inputs(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    centroids = root / SEMANTIC / "kmeans_centroids.npz"
    before = sha256_file(centroids)
    message = _refused(capsys, sweep.main, ["--cityscapes_root", str(root), "--semantic_subdir", SEMANTIC,
                                            "--output", str(centroids), "--no_cc_baseline", "--grad_thresholds", "0.2"])
    assert "is the input" in message and sha256_file(centroids) == before
    gt = sorted((root / "gtFine" / "val").rglob("*_instanceIds.png"))[0]
    before = sha256_file(gt)
    message = _refused(capsys, evaluate_cups.main, ["--cityscapes_root", str(root), "--export_dir", str(root / SEMANTIC),
                                                    "--output", str(gt)])
    assert str(gt) in message and sha256_file(gt) == before
    message = _refused(capsys, remap_clusters.main, ["--input_dir", str(root / SEMANTIC / "val"), "--output_dir",
                                                     str(root / SEMANTIC / "val" / "mapped"), "--centroids_path",
                                                     str(centroids)])
    assert "lies inside the input" in message and not (root / SEMANTIC / "val" / "mapped").exists()


def test_report_refuses_to_write_over_its_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sweep_json = tmp_path / "sweep.md"  # a Markdown name, so --out may point at it
    sweep_json.write_text("{}")
    message = _refused(capsys, report.main, ["--sweep", str(sweep_json), "--out", str(sweep_json)])
    assert "--out" in message and sweep_json.read_text() == "{}"


def test_overwrite_removes_the_files_of_its_kinds_that_the_run_does_not_write(tmp_path: Path) -> None:
    from pseudo_labels.core.manifest import RunManifest, RunOutputs, record_source

    folder = tmp_path / "out"
    for name in ("a/x.png", "a/y.png", "b/z.png", "a/notes.txt", "stats.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"old")
    record_source(folder / "a" / "y.png", "fingerprint")
    outputs = RunOutputs.of(("*/*.png",), [folder / "a" / "x.png", folder / "c" / "new.png"])
    before = sorted(p for p in folder.rglob("*") if p.is_file())
    RunManifest("test", {}).claim(folder, {"k": 1}, outputs=outputs)  # no --overwrite: nothing removed
    assert sorted(p for p in folder.rglob("*") if p.is_file() and "manifest" not in p.name) == before
    RunManifest("test", {}).claim(folder, {"k": 2}, overwrite=True, outputs=outputs)
    left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "manifest" not in p.name)
    assert left == ["a/notes.txt", "a/x.png", "stats.png"]  # y's source record went with it; other kinds stay


def test_overwrite_with_fewer_images_leaves_only_the_new_run(root: Path) -> None:
    """Per-image stages: ``--overwrite --limit 1`` after a run over every image leaves one image's files."""
    from pseudo_labels.cli import instances, panoptic

    centroids = str(root / SEMANTIC / "kmeans_centroids.npz")
    args = ["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", SEMANTIC, "--centroids_path",
            centroids, "--target_h", "256", "--target_w", "512", "--workers", "1"]
    assert panoptic.main(args) == 0
    assert panoptic.main([*args, "--limit", "1", "--overwrite"]) == 0
    assert len(list((root / "panoptic_pseudolabels" / "val").glob("*_panoptic.*"))) == 2  # one PNG, one array
    args = ["--semantic_dir", str(root / SEMANTIC / "val"), "--depth_dir", str(root / "depth_spidepth" / "val"),
            "--output_dir", str(root / "inst"), "--centroids_path", centroids, "--workers", "1"]
    assert instances.main(args) == 0
    assert len(list((root / "inst").rglob("*.npz"))) == 3
    assert instances.main([*args, "--limit", "1", "--overwrite"]) == 0
    assert len(list((root / "inst").rglob("*.npz"))) == 1
