"""The original network scripts' command lines: every flag parses, with the original's default and each choice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pseudo_labels.cli import dinov2_features as extract_dinov2_features, cause27 as generate_semantic_pseudolabels_cause, overclustering as overclustering_cause

ORIGINAL = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "original_network_cli.json").read_text())
PARSERS = {"extract_dinov2_features.py": extract_dinov2_features.build_parser,
           "overclustering_cause.py": overclustering_cause.build_parser,
           "generate_semantic_pseudolabels_cause.py": generate_semantic_pseudolabels_cause.build_parser}
CHANGED = {("extract_dinov2_features.py", "--cityscapes_root")}
"""Deliberate differences (README, "Differences from the original scripts"): required here, not a laptop path."""
SAMPLE = {"str": "x", "int": "3", None: None}
CASES = [(script, flag) for script, entry in ORIGINAL["scripts"].items() for flag in entry["flags"]]


@pytest.mark.parametrize(("script", "flag"), CASES, ids=[f"{s}:{f['flag']}" for s, f in CASES])
def test_every_original_flag_parses_with_its_default_and_choices(script: str, flag: dict) -> None:
    parser = PARSERS[script]()
    action = next(a for a in parser._actions if flag["flag"] in a.option_strings)
    required = ["--cityscapes_root", "R"]
    if (script, flag["flag"]) in CHANGED:
        assert action.required and flag["default"] is not None  # see the README's table
    else:
        assert action.required == flag["required"]
        if flag["action"] == "store_true":
            assert action.const is True and action.default is False
        else:  # paths are Path objects here, str in the original
            assert action.default == flag["default"] or str(action.default) == str(flag["default"])
    assert (action.choices is None) == (flag["choices"] is None)
    for choice in flag["choices"] or []:
        assert str(getattr(parser.parse_args([*required, flag["flag"], str(choice)]), action.dest)) == str(choice)
    if action.choices is not None:
        assert sorted(map(str, action.choices)) == sorted(map(str, flag["choices"]))
    elif flag["action"] == "store_true":
        assert getattr(parser.parse_args([*required, flag["flag"]]), action.dest) is True
    elif flag["flag"] != "--cityscapes_root":
        value = getattr(parser.parse_args([*required, flag["flag"], SAMPLE[flag["type"]]]), action.dest)
        assert str(value) == SAMPLE[flag["type"]] and (flag["type"] != "int" or value == 3)


@pytest.mark.parametrize("command", ORIGINAL["commands"], ids=lambda c: c["id"])
def test_every_documented_command_parses(command: dict) -> None:
    argv = [a.replace("{ROOT}", "/data/cityscapes") for a in command["argv"]]
    args = PARSERS[command["script"]]().parse_args(argv)
    assert str(args.cityscapes_root) == "/data/cityscapes"


def test_the_deliberate_differences_are_listed_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "differences.md").read_text()
    differences = readme[readme.index("## Differences from the original scripts"):]
    for script, flag in CHANGED:
        section = differences[differences.index(f"`{script}`:"):]
        assert f"| `{flag}` |" in section[:section.index("\n\n", section.index("|---"))]


def test_auto_device_tries_mps_after_cuda_as_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from pseudo_labels.core.devices import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto", mps=True) == torch.device("mps")
    assert pick_device("auto") == torch.device("cpu")  # the other stages: CUDA or CPU
    assert pick_device("cpu", mps=True) == torch.device("cpu")
