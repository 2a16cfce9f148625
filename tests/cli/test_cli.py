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
    path = Path(__file__).resolve().parents[2] / "benchmarks" / script
    result = subprocess.run([sys.executable, str(path)], capture_output=True, text=True)
    assert result.returncode == 0 and "no CUDA device: nothing measured" in result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from pseudo_labels import __version__

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pseudo-labels {__version__}"


class _Parsed(Exception):
    """Raised instead of parsing, carrying the parser a stage built."""


def _stage_parser(stage: str, monkeypatch: pytest.MonkeyPatch) -> "argparse.ArgumentParser":
    import argparse
    import importlib

    def capture(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Parsed(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_Parsed) as info:
        importlib.import_module(STAGES[stage][0]).main([])
    return info.value.args[0]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_help_shows_each_default_once(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from pseudo_labels.cli.help import HelpFormatter

    parser = _stage_parser(stage, monkeypatch)
    assert parser.formatter_class is HelpFormatter
    formatter = parser._get_formatter()
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = formatter._get_help_string(action)  # type: ignore[attr-defined]
        assert text.count("(default:") <= 1, (action.option_strings, text)
        assert "(the default)" not in text, action.option_strings
        if action.default not in (None, False, argparse.SUPPRESS) and not action.required:
            assert "(default" in text, (action.option_strings, text)


@pytest.mark.parametrize("stage", ["cups", "sweep", "semantics"])
def test_usage_names_the_stage(stage: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([stage, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: pseudo-labels {stage} ")
