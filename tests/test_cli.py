"""The ``pseudo-labels`` entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pseudo_labels.cli import STAGES, main


def test_help_lists_every_stage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in STAGES)


def test_unknown_stage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-stage"]) == 2
    assert "unknown stage 'no-such-stage'" in capsys.readouterr().err


def test_every_stage_module_has_main() -> None:
    import importlib

    for module, _ in STAGES.values():
        assert callable(importlib.import_module(module).main)


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "pseudo-labels"  # installed by `pip install -e .` into the venv
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "synthetic" in result.stdout


@pytest.mark.parametrize("script", ["bench_gpu.py", "bench_pipeline.py"])
def test_gpu_benchmarks_say_so_without_a_gpu(script: str) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the benchmark would measure for minutes")
    path = Path(__file__).resolve().parents[1] / "benchmarks" / script
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and "no CUDA device: nothing measured" in result.stdout
