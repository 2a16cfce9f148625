"""Reports rendered from a sweep JSON (Markdown, optionally static HTML), with figures; never typed by hand.

    pseudo-labels report --sweep R/sweep_k80_spidepth_val.json --out reports/sweep_k80_val.md \\
        [--pictures PICTURES_DIR] [--html] [--format png svg pdf] [--resamples 1000] [--seed 0]
    pseudo-labels report --refresh [--reports_dir reports]

What the report holds, section by section: :mod:`pseudo_labels.report.markdown`.
``--refresh`` regenerates every committed report under ``reports/`` and removes
the files no command makes there (:mod:`pseudo_labels.report.refresh`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.cli.options import Number, RANDOM_SEED
from pseudo_labels.core.fileio import check_not_an_input
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.evaluation.bootstrap import RESAMPLES, SEED
from pseudo_labels.report import refresh
from pseudo_labels.report.figures import FORMATS
from pseudo_labels.report.markdown import write_report

RENDER_FLAGS = ("out", "pictures", "html", "formats", "resamples", "seed")
"""The flags of one report from ``--sweep``; ``--refresh`` takes none of them (its recipe is fixed)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--sweep", type=Path, help="sweep JSON written by sweep_k50_spidepth.py (or --refresh)")
    parser.add_argument("--refresh", action="store_true",
                        help="regenerate every committed report under --reports_dir (the demo's, on synthetic data) "
                             "and remove the files no command makes there")
    parser.add_argument("--reports_dir", type=Path, default=None,
                        help=f"with --refresh: the committed reports' folder (default: {refresh.REPORTS_DIR})")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file (default: reports/{sweep stem}.md)")
    parser.add_argument("--pictures", type=Path, default=None,
                        help="a visualize --out folder (its index.json): gallery of the worst images, per-image table")
    parser.add_argument("--html", action="store_true", default=None,
                        help="also write a static HTML report beside the Markdown")
    parser.add_argument("--format", nargs="+", choices=FORMATS, default=None, dest="formats",
                        help="figure file formats (the documents show SVG when asked for, else PNG, and link the "
                             "others; default: png)")
    parser.add_argument("--resamples", type=Number(int, low=0, note="0: no intervals"), default=None,
                        help=f"bootstrap resamples of the 95 %% intervals (0: no intervals; default: {RESAMPLES})")
    parser.add_argument("--seed", type=RANDOM_SEED, default=None, help=f"seed of the bootstrap draws (default: {SEED})")
    return parser


def _refresh(reports_dir: Path) -> int:
    started = time.perf_counter()
    written, removed = refresh.refresh(reports_dir)
    for name in written:
        print(f"written: {reports_dir / name}")
    for name in removed:
        print(f"removed: {reports_dir / name} (no command makes it)")
    print(f"{reports_dir}: {'up to date' if not written and not removed else 'refreshed'} "
          f"({len(refresh.COMMITTED)} report(s), {time.perf_counter() - started:.1f} s)")
    return 0


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.refresh == (args.sweep is not None):
        parser.error("give either --sweep SWEEP_JSON (one report) or --refresh (every committed report)")
    if args.refresh:
        given = [f"--{name.replace('formats', 'format')}" for name in RENDER_FLAGS if getattr(args, name) is not None]
        if given:
            parser.error(f"--refresh takes none of {', '.join(given)}: its recipe is fixed (pseudo_labels/report/refresh.py)")
        return _refresh(args.reports_dir or refresh.REPORTS_DIR)
    if args.reports_dir is not None:
        parser.error("--reports_dir goes with --refresh")
    out = args.out or refresh.REPORTS_DIR / f"{args.sweep.stem}.md"
    for written in (out, out.with_suffix(".html")):  # before rendering: never over the sweep JSON or the pictures
        check_not_an_input(written, (args.sweep, args.pictures / "index.json" if args.pictures else None), "--out")
    chosen = {"formats": args.formats, "resamples": args.resamples, "seed": args.seed}
    path = write_report(args.sweep, out, args.pictures, bool(args.html),
                        **{name: value for name, value in chosen.items() if value is not None})
    print(f"report: {path}" + (f"\nhtml: {path.with_suffix('.html')}" if args.html else ""))
    return 0
