"""CAUSE 27-class PNGs (labelIds 7..33 as ids 0..26) -> Cityscapes trainIds, with the reference's table.

    python pseudo_labels/remap_cause27_to_trainid.py --input_dir R/pseudo_semantic_cause --output_dir R/cause_trainid
    python pseudo_labels/remap_cause27_to_trainid.py --input_dir R/pseudo_semantic_cause/val --output_dir R/cause_trainid/val

``--split train|val`` remaps ``{input_dir}/{split}`` into ``{output_dir}/{split}``;
``both`` (the default, as in the original) does so for each of the two that
exists. A folder with neither (a split folder itself, or any other layout) is
remapped as a whole, keeping relative paths. polegroup, caravan and trailer
become pole, car and truck as in the original; parking, rail track, guard
rail, bridge and tunnel become 255. Unlike the original, a named split that is
missing, or an input with no PNG, stops with exit status 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.export.relabel import SPLIT_CHOICES, remap_cause27


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--input_dir", required=True, type=Path, help="CAUSE 27-class PNGs (split folders or any layout)")
    parser.add_argument("--output_dir", required=True, type=Path, help="trainId PNGs, same relative paths")
    parser.add_argument("--split", default="both", choices=SPLIT_CHOICES,
                        help="split folder(s) under --input_dir to remap; 'both' without either: the whole folder")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for target, count in remap_cause27(args.input_dir, args.output_dir, args.split):
        print(f"remapped {count} PNGs to {target}")
    return 0
