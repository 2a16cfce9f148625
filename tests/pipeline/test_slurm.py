"""``--launcher slurm`` through submitit: the sbatch scripts it submits, and the jobs run by submitit's local executor."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from pseudo_labels.cli import run
from pseudo_labels.pipeline.config import load_config, resolve, write_config

from pseudo_labels.pipeline.slurm import torchrun_command

K = 24
"""The fixture datasets' k (tests/pipeline/conftest.py)."""
SUBDIR = f"pseudo_semantic_raw_k{K}"
FAKE_SBATCH = """#!/bin/sh
# records the script it is given and answers as sbatch does, with job ids 1001, 1002, ...
n=$(ls "{record}" | wc -l)
cp "$1" "{record}/$n.sh"
echo "Submitted batch job $((1001 + n))"
"""


@pytest.fixture()
def fake_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ``sbatch`` on PATH that keeps every submitted script in the returned folder (0.sh, 1.sh, ...)."""
    record, bin_dir = tmp_path / "submitted", tmp_path / "bin"
    record.mkdir()
    bin_dir.mkdir()
    script = bin_dir / "sbatch"
    script.write_text(FAKE_SBATCH.format(record=record))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    (bin_dir / "srun").symlink_to("/bin/true")  # submitit looks for srun before it submits
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return record


def test_sbatch_scripts_of_the_published_recipe(fake_sbatch: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "R").mkdir()
    assert run.main(["--config", "k80_depth", "--cityscapes_root", str(tmp_path / "R"), "--launcher", "slurm",
                     "launch.shards=4", "launch.nodes=2", "launch.gpus_per_node=4", "launch.partition=gpu",
                     "launch.setup=[source /opt/venv/bin/activate]"]) == 0
    scripts = [(fake_sbatch / f"{i}.sh").read_text() for i in range(len(list(fake_sbatch.iterdir())))]
    flags = [dict(re.findall(r"^#SBATCH --([\w-]+)=?(.*)$", text, re.M)) for text in scripts]
    # semantics, depth (torchrun jobs), sweep array + merge, cups array, panoptic array + merge, report
    assert [f["job-name"] for f in flags] == ["k80_depth-semantics", "k80_depth-depth", "k80_depth-sweep",
                                              "k80_depth-sweep-merge", "k80_depth-cups", "k80_depth-panoptic",
                                              "k80_depth-panoptic-merge", "k80_depth-report"]
    assert flags[0]["nodes"] == "2" and flags[0]["gpus-per-node"] == "4" and "dependency" not in flags[0]
    assert flags[0]["partition"] == "gpu" and "source /opt/venv/bin/activate" in scripts[0]
    assert [f.get("dependency") for f in flags[1:]] == ["afterok:1001", "afterok:1002", "afterok:1003",
                                                         "afterok:1004", "afterok:1005", "afterok:1006",
                                                         "afterok:1007"]
    assert [f.get("array") for f in flags] == [None, None, "0-3%4", None, "0-3%4", "0-3%4", None, None]
    assert flags[2]["nodes"] == "1" and "gpus-per-node" not in flags[2]  # CPU arrays take no GPU
    out = capsys.readouterr().out
    assert "sweep: job array 1003 (4 shards)" in out and "depth: torchrun job 1002 (2 node(s) x 4)" in out


def test_without_slurm_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as info:
        run.main(["--config", "k80_depth", "--cityscapes_root", str(tmp_path), "--launcher", "slurm"])
    assert info.value.code == 2 and "sbatch or srun not on PATH" in capsys.readouterr().err


def test_torchrun_command_per_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = resolve(load_config("k80_depth", ["launch.launcher=slurm", "launch.shards=4"], tmp_path))
    path = write_config(config, tmp_path / "config.yaml")
    job = torchrun_command(str(path), "depth", nodes=2, node_rank=1, nproc=4, master="node7")
    assert run.main([*job[job.index("run") + 1:], "--print_config"]) == 0  # what each rank parses
    assert "  launcher: local\n" in capsys.readouterr().out  # the job runs its stage, it submits nothing
    command = torchrun_command("R/runs/x/config.yaml", "depth", nodes=2, node_rank=1, nproc=4, master="node7")
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert {"--nnodes=2", "--node_rank=1", "--nproc_per_node=4", "--master_addr=node7"} <= set(command)
    assert command[-10:] == ["--module", "pseudo_labels", "run", "--config", "R/runs/x/config.yaml", "--stages",
                             "depth", "--launcher", "local", "run_dir=R/runs/x/jobs/depth"]  # no second submission


def test_local_executor_runs_an_array_and_its_merge(dataset: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Sweep shards run by submitit's local executor, then merged, give the JSON of one unsharded run."""
    overrides = ["--stages", "sweep", "semantics.centroids=fit", f"semantics.k={K}", "sweep.grad_thresholds=[0.2]",
                 "sweep.min_areas=[500]", "workers=1"]
    assert run.main(["--config", "k80_depth", "--cityscapes_root", str(dataset), *overrides]) == 0
    single = (dataset / f"sweep_k{K}_spidepth_val.json").read_bytes()
    sharded, merged = tmp_path / "sharded", tmp_path / "merged.json"
    assert run.main(["--config", "k80_depth", "--cityscapes_root", str(dataset), *overrides, f"run_dir={sharded}",
                     "--launcher", "slurm", "launch.submitit_cluster=local", "launch.shards=2",
                     f"sweep.output={merged}"]) == 0
    assert merged.read_bytes() == single
    assert sorted(p.name for p in tmp_path.glob("merged.shard-*.npz")) == ["merged.shard-0-of-2.npz",
                                                                          "merged.shard-1-of-2.npz"]
    out = capsys.readouterr().out
    assert "sweep: job array" in out and "(2 shards)" in out and "sweep: merge job" in out
