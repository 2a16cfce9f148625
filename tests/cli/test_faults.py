"""Fault injection: kill a multi-image command at 10 points, re-run it, get exactly an uninterrupted run's files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.fileio import TEMP_PREFIX
from pseudo_labels.data.synthetic import write_dataset

PACKAGE = Path(__file__).resolve().parents[2] / "pseudo_labels"
KILL_POINTS = 10
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _files(folder: Path) -> dict[str, bytes]:
    """Every output file's bytes (manifests hold timing and are left out)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "manifest" not in p.name}


def _run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], check=True, env=ENV, capture_output=True)
    return time.perf_counter() - start


def _kill_at_points(argv: list[str], duration: float) -> None:
    """Start the command KILL_POINTS times and SIGKILL it at evenly spread moments of its run.

    Its worker processes die with it (parent-death signal) a moment later; the
    next start waits for that, as a user re-running the command would. A
    worker still writing keeps its temporary file (see fileio.is_stale_temp_file).
    """
    for point in range(KILL_POINTS):
        process = subprocess.Popen([sys.executable, *argv], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(duration * (point + 0.5) / KILL_POINTS)
        workers = _children(process.pid)
        process.send_signal(signal.SIGKILL)
        process.wait()
        _wait_gone(workers)


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _wait_gone(pids: list[int], timeout: float = 10.0) -> bool:
    """Wait until none of ``pids`` exists; True when they are gone."""
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def check_resumes_exactly(make_argv, reference_out: Path, interrupted_out: Path) -> None:  # type: ignore[no-untyped-def]
    duration = _run(make_argv(reference_out))
    expected = _files(reference_out)
    assert expected
    _kill_at_points(make_argv(interrupted_out), duration)
    _run(make_argv(interrupted_out))
    assert _files(interrupted_out) == expected
    assert not [p for p in interrupted_out.rglob(f"{TEMP_PREFIX}*")]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    write_dataset(root, "val", num_images=6, seed=12, size=(256, 512), num_clusters=24, show_progress=False)
    return root


def test_instances_resume_exactly(data: Path, tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return [str(PACKAGE / "generate_depth_guided_instances.py"), "--grad_threshold", "0.20", "--semantic_dir", str(data / "pseudo_semantic_raw_k24" / "val"),
                "--depth_dir", str(data / cs.DEPTH_SUBDIR / "val"), "--output_dir", str(out),
                "--centroids_path", str(data / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"), "--min_area", "100"]
    check_resumes_exactly(argv, tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("script, area_flag", [("convert_to_cups_format.py", "--min_instance_area"),
                                               ("generate_panoptic_pseudolabels.py", "--min_area")])
def test_root_level_exports_resume_exactly(data: Path, script: str, area_flag: str) -> None:
    """The CUPS and the panoptic export (both with worker processes)."""
    def argv(out: Path) -> list[str]:
        return [str(PACKAGE / script), "--cityscapes_root", str(data), "--split", "val",
                "--semantic_subdir", "pseudo_semantic_raw_k24", "--output_subdir", str(out.relative_to(data)),
                "--centroids_path", str(data / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz"),
                area_flag, "100", "--target_h", "256", "--target_w", "512",
                *(["--depth_instances"] if script.startswith("convert") else [])]
    name = script.split("_")[0]
    check_resumes_exactly(argv, data / f"{name}_a", data / f"{name}_b")


def test_sweep_json_appears_only_complete(data: Path, tmp_path: Path) -> None:
    def argv(out: Path) -> list[str]:
        return [str(PACKAGE / "sweep_k50_spidepth.py"), "--cityscapes_root", str(data), "--semantic_subdir",
                "pseudo_semantic_raw_k24", "--eval_size", "128", "256", "--workers", "1", "--output", str(out / "s.json")]
    check_resumes_exactly(argv, tmp_path / "a", tmp_path / "b")
    record = json.loads((tmp_path / "b" / "s.json").read_text())
    assert record["n_images"] == 6


def test_cluster_assignment_resumes_exactly(data: Path, cause_release: Path, tmp_path: Path) -> None:
    """The semantics stage from cached features (the network's work is in the cache; fitting and assignment rerun)."""
    release = cause_release
    cache = tmp_path / "cache"

    def argv(out: Path) -> list[str]:
        return [str(PACKAGE / "generate_overclustered_semantics.py"), "--cityscapes_root", str(data), "--split", "val",
                "--k", "8", "--skip_crf", "--raw_clusters", "--output_subdir", str(out.relative_to(data)),
                "--checkpoint_dir", str(release), "--device", "cpu", "--num_workers", "0", "--feature_cache", str(cache)]
    _run(argv(data / "warm"))  # fills the feature cache
    check_resumes_exactly(argv, data / "sem_a", data / "sem_b")


def test_changed_settings_are_refused_and_overwrite_recomputes(data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels.cli import instances as gen

    base = ["--grad_threshold", "0.20", "--semantic_dir", str(data / "pseudo_semantic_raw_k24" / "val"), "--depth_dir", str(data / cs.DEPTH_SUBDIR / "val"),
            "--output_dir", str(tmp_path / "out"), "--centroids_path", str(data / "pseudo_semantic_raw_k24" / "kmeans_centroids.npz")]
    assert gen.main([*base, "--min_area", "100"]) == 0
    before = _files(tmp_path / "out")
    with pytest.raises(SystemExit) as info:
        gen.main([*base, "--min_area", "300"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "min_area: 100 there, 300 now" in err and "--overwrite" in err
    assert _files(tmp_path / "out") == before  # nothing touched
    assert gen.main([*base, "--min_area", "300", "--overwrite"]) == 0
    assert _files(tmp_path / "out") != before


def _as_from_a_terminal() -> None:
    """Ctrl-C's default action in the child: a shell without job control (``cmd &``, nohup, some CI runners)
    starts commands with SIGINT ignored, and Python then rightly keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _replicate(root: Path, keys: list[str], times: int) -> int:
    """Hard-link every file of each image under ``times`` new frame numbers: a large split in milliseconds."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for key in keys:
        stem = key.split("/")[1]
        for path in [p for p in files if p.name.startswith(stem)]:
            for copy in range(times - 1):
                os.link(path, path.with_name(path.name.replace(stem, f"{stem[:-6]}{100000 + copy:06d}")))
    return len(keys) * times


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find worker processes")
@pytest.mark.parametrize("sig, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_signals_end_with_one_line_no_workers_no_temp_files(tmp_path: Path, sig: int, status: int, word: str) -> None:
    import threading

    root = tmp_path / "data"
    keys = write_dataset(root, "val", num_images=6, seed=3, size=(256, 512), num_clusters=24, show_progress=False)
    count = _replicate(root, keys, 50)  # 300 images, so the run is still busy whatever the machine's load
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, str(PACKAGE / "sweep_k50_spidepth.py"), "--cityscapes_root", str(root),
                                "--semantic_subdir", "pseudo_semantic_raw_k24", "--workers", "2",
                                "--output", str(out / "s.json")], env=ENV, stderr=subprocess.PIPE,
                               preexec_fn=_as_from_a_terminal)
    assert process.stderr is not None
    stderr: list[bytes] = []
    started = threading.Event()

    def read() -> None:
        for chunk in iter(lambda: os.read(process.stderr.fileno(), 4096), b""):
            stderr.append(chunk)
            if f"| 1/{count}".encode() in b"".join(stderr[-4:]):  # the first image is done: workers are running
                started.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert started.wait(60), b"".join(stderr).decode()
    workers = _children(process.pid)
    process.send_signal(sig)
    assert process.wait(60) == status, b"".join(stderr).decode()[-2000:]
    reader.join(10)
    text = b"".join(stderr).decode()
    assert "Traceback" not in text and text.count(word) == 1, text
    assert not (out / "s.json").exists() and not list(tmp_path.rglob(f"{TEMP_PREFIX}*"))
    assert workers and _wait_gone(workers)
