"""Reports rendered from a sweep JSON (Markdown, optionally static HTML), with figures; never typed by hand.

    pseudo-labels report --sweep R/sweep_k80_spidepth_val.json --out reports/sweep_k80_val.md \\
        [--pictures PICTURES_DIR] [--html] [--format png svg pdf] [--resamples 1000] [--seed 0]

What the report holds, section by section: :mod:`pseudo_labels.report.markdown`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import Number, RANDOM_SEED
from pseudo_labels.core.fileio import check_not_an_input
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.evaluation.bootstrap import RESAMPLES, SEED
from pseudo_labels.report.figures import FORMATS
from pseudo_labels.report.markdown import write_report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--sweep", required=True, type=Path, help="sweep JSON written by sweep_k50_spidepth.py")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file (default: reports/{sweep stem}.md)")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="a visualize --out folder (its index.json): gallery of the worst images, per-image table")
    parser.add_argument("--html", action="store_true", help="also write a static HTML report beside the Markdown")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=["png"], dest="formats",
                        help="figure file formats (the documents show SVG when asked for, else PNG, and link the others)")
    parser.add_argument("--resamples", type=Number(int, low=0, note="0: no intervals"), default=RESAMPLES,
                        help="bootstrap resamples of the 95 %% intervals (0: no intervals)")
    parser.add_argument("--seed", type=RANDOM_SEED, default=SEED, help="seed of the bootstrap draws")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out or Path("reports") / f"{args.sweep.stem}.md"
    for written in (out, out.with_suffix(".html")):  # before rendering: never over the sweep JSON or the pictures
        check_not_an_input(written, (args.sweep, args.pictures / "index.json" if args.pictures else None), "--out")
    path = write_report(args.sweep, out, args.pictures, args.html, formats=args.formats, resamples=args.resamples,
                        seed=args.seed)
    print(f"report: {path}" + (f"\nhtml: {path.with_suffix('.html')}" if args.html else ""))
    return 0
