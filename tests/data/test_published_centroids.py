"""The packaged k=80 centroids: sha256 check, restore_centroids_k80.py, ``--load_centroids published``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pseudo_labels import cli
from pseudo_labels.data import published
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.cli import semantics as semantics_cli
from pseudo_labels.cli import restore_centroids as restore
from pseudo_labels.data.synthetic import write_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = Path("pseudo_semantic_raw_k80") / "kmeans_centroids.npz"


def _tampered(tmp_path: Path) -> Path:
    """A copy of the packaged file with one byte of the centroid array changed (still a valid archive)."""
    data = bytearray(published.CENTROIDS_K80_PATH.read_bytes())
    data[1000] ^= 0x01
    path = tmp_path / "tampered.npz"
    path.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------- the packaged file


def test_packaged_file_has_the_recorded_hash_and_the_original_keys() -> None:
    path = published.CENTROIDS_K80_PATH
    assert path == REPO_ROOT / "pseudo_labels" / "data" / "kmeans_centroids_k80.npz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == published.CENTROIDS_K80_SHA256
    assert published.CENTROIDS_K80_SHA256 == "6690f7456b5c6835729cb08e48a190fd736930d84c92525ec3eda4f3e2b3057f"
    with zipfile.ZipFile(path) as archive:  # np.savez's format: stored, one .npy member per key
        infos = archive.infolist()
    assert [i.filename for i in infos] == [f"{k}.npy" for k in published.CENTROIDS_K80_KEYS]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
    arrays = published.centroids_k80()
    assert list(arrays) == list(published.CENTROIDS_K80_KEYS)
    centroids, table = arrays["centroids"], arrays["cluster_to_class"]
    assert centroids.shape == (80, 90) and centroids.dtype == np.float64
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1, atol=1e-7)
    assert table.shape == (80,) and table.dtype == np.uint8 and int(table.max()) <= 18
    counts = np.bincount(table, minlength=cs.NUM_CLASSES).tolist()  # clusters per trainId, as published
    assert counts == [16, 7, 15, 3, 3, 1, 0, 1, 14, 2, 3, 2, 1, 7, 1, 2, 1, 0, 1]  # no traffic light, no motorcycle


def test_packaged_file_is_what_np_savez_writes() -> None:
    """The original restore script writes ``np.savez(out, centroids=..., cluster_to_class=...)``: the same bytes."""
    buffer = io.BytesIO()
    np.savez(buffer, **published.centroids_k80())
    assert buffer.getvalue() == published.CENTROIDS_K80_PATH.read_bytes()


def test_packaged_file_is_the_golden_file(shared_dir: Path) -> None:
    golden = shared_dir / "golden" / "kmeans_centroids_k80.npz"
    assert published.CENTROIDS_K80_PATH.read_bytes() == golden.read_bytes()


def test_packaged_file_is_tracked_package_data() -> None:
    """Not ignored by git (so a clone has it) and named in pyproject's package data (so a wheel has it)."""
    relative = "pseudo_labels/data/kmeans_centroids_k80.npz"
    ignored = subprocess.run(["git", "-C", str(REPO_ROOT), "check-ignore", "-q", relative])
    assert ignored.returncode == 1  # 1: not ignored
    assert published.CENTROIDS_K80_PATH == REPO_ROOT / relative
    assert '"pseudo_labels.data" = ["kmeans_centroids_k80.npz"]' in (REPO_ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("damage", ["tampered", "missing"])
def test_damaged_package_file_exits_2_with_one_message(damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = _tampered(tmp_path) if damage == "tampered" else tmp_path / "absent.npz"
    monkeypatch.setattr(published, "CENTROIDS_K80_PATH", path)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(SystemExit) as info:
        restore.main(["--cityscapes_root", str(root)])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and str(path) in err[0] and "Reinstall the package" in err[0]
    assert ("is not the recorded" in err[0]) if damage == "tampered" else ("is missing" in err[0])
    assert not (root / TARGET).exists() and not list(root.rglob("*"))  # nothing written, not even the folder
    # the semantics stage refuses it while parsing, before any checkpoint or image is opened
    with pytest.raises(SystemExit) as info:
        semantics_cli.main(["--cityscapes_root", str(root), "--load_centroids", "published", "--skip_crf"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and len(err) == 1 and str(path) in err[0]


# --------------------------------------------------------------------------- restore_centroids_k80.py


def test_restore_writes_the_published_file_and_rerun_is_idempotent(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert restore.main(["--cityscapes_root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    target = tmp_path / TARGET
    assert out.startswith(f"Saved to {target}") and "person" in out and "(80, 90)" in out
    assert target.read_bytes() == published.CENTROIDS_K80_PATH.read_bytes()
    with np.load(target) as npz:
        assert npz.files == ["centroids", "cluster_to_class"]
    before = target.stat()
    assert restore.main(["--cityscapes_root", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"Already restored: {target}")
    after = target.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not even rewritten
    assert sorted(p.name for p in target.parent.iterdir()) == ["kmeans_centroids.npz"]  # no temporary file left


def test_restored_arrays_equal_the_golden_file_bit_for_bit(shared_dir: Path, tmp_path: Path) -> None:
    assert restore.main(["--cityscapes_root", str(tmp_path)]) == 0
    with np.load(tmp_path / TARGET) as mine, np.load(shared_dir / "golden" / "kmeans_centroids_k80.npz") as golden:
        assert mine.files == golden.files == ["centroids", "cluster_to_class"]
        for key in golden.files:
            assert mine[key].dtype == golden[key].dtype and mine[key].shape == golden[key].shape
            assert mine[key].tobytes() == golden[key].tobytes()


def test_restore_keeps_an_equal_copy_and_refuses_other_centroids(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / TARGET
    target.parent.mkdir()
    arrays = published.centroids_k80()
    np.savez_compressed(target, **arrays)  # the same arrays in other bytes (a copy made some other way)
    original_bytes = target.read_bytes()
    assert original_bytes != published.CENTROIDS_K80_PATH.read_bytes()  # so the arrays are what is compared
    assert restore.main(["--cityscapes_root", str(tmp_path)]) == 0
    assert "Already restored" in capsys.readouterr().out and target.read_bytes() == original_bytes

    other = dict(arrays, centroids=-arrays["centroids"])  # someone's own k=80 fit
    np.savez(target, **other)
    own = target.read_bytes()
    with pytest.raises(SystemExit) as info:
        restore.main(["--cityscapes_root", str(tmp_path)])
    err = capsys.readouterr().err
    assert info.value.code == 2 and f"{target}: holds other centroids" in err and "--overwrite" in err
    assert target.read_bytes() == own
    assert restore.main(["--cityscapes_root", str(tmp_path), "--overwrite"]) == 0
    assert target.read_bytes() == published.CENTROIDS_K80_PATH.read_bytes()
    target.write_bytes(b"")  # a zero-byte file is not the published one either
    with pytest.raises(SystemExit) as info:
        restore.main(["--cityscapes_root", str(tmp_path)])
    assert info.value.code == 2 and "holds other centroids" in capsys.readouterr().err and target.read_bytes() == b""


def test_restore_needs_an_existing_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        restore.main(["--cityscapes_root", str(tmp_path / "typo")])
    assert info.value.code == 2 and "is not a folder" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_restore_flags_are_the_originals(capsys: pytest.CaptureFixture[str]) -> None:
    parser = restore.build_parser()
    with pytest.raises(SystemExit) as info:
        parser.parse_args([])  # --cityscapes_root is required, as in the original
    assert info.value.code == 2 and "--cityscapes_root" in capsys.readouterr().err
    args = parser.parse_args(["--cityscapes_root", "R"])
    assert args.cityscapes_root == Path("R") and args.overwrite is False


def _documented_restore_commands(spec: dict) -> list[dict]:
    return [c for c in spec["commands"] if c["script"] == "restore_centroids_k80.py"]


def test_documented_command_as_a_script_and_as_a_stage(tmp_path: Path) -> None:
    """``python pseudo_labels/restore_centroids_k80.py --cityscapes_root R`` (the original's docstring), and the stage."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "pseudo_labels/restore_centroids_k80.py", "--cityscapes_root",
                             str(tmp_path / "a")], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "is not a folder" in result.stderr  # no root, no stray folder
    (tmp_path / "a").mkdir()
    result = subprocess.run([sys.executable, "pseudo_labels/restore_centroids_k80.py", "--cityscapes_root",
                             str(tmp_path / "a")], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a" / TARGET).read_bytes() == published.CENTROIDS_K80_PATH.read_bytes()
    (tmp_path / "b").mkdir()
    assert cli.main(["restore-centroids", "--cityscapes_root", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / TARGET).read_bytes() == published.CENTROIDS_K80_PATH.read_bytes()


def test_original_cli_json_commands_for_restore(shared_dir: Path, tmp_path: Path) -> None:
    spec = json.loads((shared_dir / "original_cli.json").read_text())
    flags = spec["scripts"]["restore_centroids_k80.py"]["flags"]
    assert [(f["flag"], f["required"], f["default"]) for f in flags] == [("--cityscapes_root", True, None)]
    commands = _documented_restore_commands(spec)
    assert commands
    for command in commands:
        root = tmp_path / command["id"].replace("#", "_")
        root.mkdir()
        assert restore.main([arg.replace("{ROOT}", str(root)) for arg in command["argv"]]) == 0
        for pattern in command["writes"]:
            assert [p.read_bytes() for p in root.glob(pattern)] == [published.CENTROIDS_K80_PATH.read_bytes()]


# --------------------------------------------------------------------------- --load_centroids published


def test_semantics_stage_with_published_centroids(cause_release: Path, tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_dataset(root, "train", num_images=1, seed=5, size=(64, 64), show_progress=False)  # one window
    base = ["--cityscapes_root", str(root), "--checkpoint_dir", str(cause_release), "--device", "cpu", "--skip_crf",
            "--num_workers", "0", "--split", "train", "--raw_clusters", "--k", "80"]
    assert semantics_cli.main([*base, "--load_centroids", "published", "--output_subdir", "by_name"]) == 0
    out = root / "by_name"
    assert not (out / "kmeans_centroids.npz").exists()  # loaded, not fitted (there is no val split to fit on)
    labels = cs.output_paths(out, "train", ".png")
    assert len(labels) == 1
    clusters = cs.read_png(next(iter(labels.values())))
    assert clusters.shape == (64, 64) and clusters.dtype == np.uint8 and int(clusters.max()) < 80
    manifest = json.loads((out / "train" / "manifest.json").read_text())
    assert manifest["settings"]["load_centroids"] == published.CENTROIDS_K80_SHA256
    assert manifest["inputs"]["load_centroids"] == {"path": str(published.CENTROIDS_K80_PATH),
                                                    "sha256": published.CENTROIDS_K80_SHA256}


def test_load_centroids_published_names_the_packaged_file() -> None:
    parse = semantics_cli.build_parser().parse_args
    assert parse(["--cityscapes_root", "R", "--load_centroids", "published"]).load_centroids == published.CENTROIDS_K80_PATH
    assert parse(["--cityscapes_root", "R", "--load_centroids", "./published"]).load_centroids == Path("published")
    assert parse(["--cityscapes_root", "R", "--load_centroids", "c.npz"]).load_centroids == Path("c.npz")
    assert parse(["--cityscapes_root", "R"]).load_centroids is None
