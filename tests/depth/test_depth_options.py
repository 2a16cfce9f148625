"""The depth stage's options mirror its command line: same fields, order and defaults (the manifest records them)."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

from pseudo_labels.cli import depth as cli
from pseudo_labels.depth.maps import DepthOptions


def test_options_mirror_the_flags() -> None:
    args = cli.build_parser().parse_args(["--cityscapes_root", "R"])
    assert [f.name for f in fields(DepthOptions)] == list(vars(args))
    assert asdict(DepthOptions(cityscapes_root=Path("R"))) == vars(args)
    assert DepthOptions(cityscapes_root=Path("R")).splits == ("train", "val")
    assert DepthOptions(cityscapes_root=Path("R"), split="val").splits == ("val",)
