"""CAUSE 27-class PNGs (labelIds 7..33 as ids 0..26) -> Cityscapes trainIds (255 outside the 19).

    python pseudo_labels/remap_cause27_to_trainid.py --input_dir R/pseudo_semantic_cause/val --output_dir R/cause_trainid/val
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cityscapes import CAUSE27_NAMES
from pseudo_labels.errors import exit_on_input_error
from pseudo_labels.remap_labels import cause27_table, remap_folder


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input_dir", required=True, type=Path, help="27-class PNGs (any layout)")
    parser.add_argument("--output_dir", required=True, type=Path, help="trainId PNGs, same relative paths")
    args = parser.parse_args(argv)
    count = remap_folder(args.input_dir, args.output_dir, cause27_table(), len(CAUSE27_NAMES), "CAUSE-27 class")
    print(f"remapped {count} PNGs to {args.output_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
