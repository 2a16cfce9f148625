"""Markdown reports rendered from a sweep JSON, with figures; never typed by hand.

    python -m pseudo_labels report --sweep R/sweep_k80_spidepth_val.json --out reports/sweep_k80_val.md

The report holds, per protocol, the configurations sorted by PQ, the
per-class table of the best one, the protocol definitions, the inputs' hashes,
and two figures written beside it: PQ and PQ_things over (tau, A_min), and
PQ_stuff against PQ_things per configuration. Every number comes from the JSON.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import write_bytes_atomic, write_text

PROTOCOL_TEXT = {
    "reference": ("Reference protocol (behind the published numbers): at the eval size, a stuff segment is a whole "
                  "class with >= 64 px, predicted instances are painted largest first onto free pixels and kept with "
                  ">= 10 new px, GT instances are instanceIds >= 1000 with >= 10 px; a match needs IoU > 0.5 over all "
                  "pixels (void included); PQ averages the classes with TP+FP+FN > 0; SQ and RQ are pooled over classes."),
    "official": ("Official protocol (cityscapesscripts evalPanopticSemanticLabeling): full GT resolution, void pixels "
                 "leave the union, crowd regions are never matched, a prediction lying > 50 % in void or same-class "
                 "crowd is not a false positive, no area filters; PQ, SQ and RQ are class means."),
}
FIGURE_DPI = 100
HEATMAP_SIZE = (10.0, 4.0)
SCATTER_SIZE = (6.0, 5.0)


def _label(entry: dict) -> str:
    return "CC-only" if entry["mode"] == "cc_only" else f"{entry['grad_threshold']:.2f} / {entry['min_area']}"


def summary_table(entries: Sequence[dict]) -> list[str]:
    """Markdown rows of the configurations, best PQ first (ties keep the grid order)."""
    rows = ["| tau / A_min | inst/img | PQ | PQ_stuff | PQ_things | SQ | RQ |", "|---|---|---|---|---|---|---|"]
    for e in sorted(entries, key=lambda e: -e["PQ"]):
        rows.append(f"| {_label(e)} | {e['avg_instances']:.1f} | {e['PQ']:.2f} | {e['PQ_stuff']:.2f} | "
                    f"{e['PQ_things']:.2f} | {e['SQ']:.2f} | {e['RQ']:.2f} |")
    return rows


def class_table(entry: dict) -> list[str]:
    rows = ["| class | kind | PQ | SQ | RQ | TP | FP | FN |", "|---|---|---|---|---|---|---|---|"]
    for name, v in entry["per_class"].items():
        if v["evaluated"]:
            rows.append(f"| {name} | {'thing' if v['thing'] else 'stuff'} | {v['PQ']:.2f} | {v['SQ']:.2f} | "
                        f"{v['RQ']:.2f} | {v['TP']} | {v['FP']} | {v['FN']} |")
    return rows


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


def heatmap_png(entries: Sequence[dict], protocol: str) -> bytes:
    """PQ and PQ_things over the (tau, A_min) grid (blank where a pair was not run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth_entries = [e for e in entries if e["mode"] != "cc_only"]
    taus = sorted({e["grad_threshold"] for e in depth_entries})
    areas = sorted({e["min_area"] for e in depth_entries})
    figure, axes = plt.subplots(1, 2, figsize=HEATMAP_SIZE, constrained_layout=True)
    for axis, metric in zip(axes, ("PQ", "PQ_things")):
        grid = np.full((len(areas), len(taus)), np.nan)
        for e in depth_entries:
            grid[areas.index(e["min_area"]), taus.index(e["grad_threshold"])] = e[metric]
        image = axis.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        axis.set_xticks(range(len(taus)), [f"{t:.2f}" for t in taus], rotation=90)
        axis.set_yticks(range(len(areas)), [str(a) for a in areas])
        axis.set_xlabel("tau (depth-gradient threshold)")
        axis.set_ylabel("A_min (pixels at the eval size)")
        axis.set_title(f"{metric}, {protocol} protocol")
        figure.colorbar(image, ax=axis)
    data = _png(figure)
    plt.close(figure)
    return data


def scatter_png(entries: Sequence[dict], protocol: str) -> bytes:
    """PQ_stuff against PQ_things, one point per configuration (CC-only marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=SCATTER_SIZE, constrained_layout=True)
    depth_entries = [e for e in entries if e["mode"] != "cc_only"]
    axis.scatter([e["PQ_things"] for e in depth_entries], [e["PQ_stuff"] for e in depth_entries], label="depth-guided")
    cc = [e for e in entries if e["mode"] == "cc_only"]
    if cc:
        axis.scatter([e["PQ_things"] for e in cc], [e["PQ_stuff"] for e in cc], marker="x", s=80, label="CC-only")
    axis.set_xlabel("PQ_things")
    axis.set_ylabel("PQ_stuff")
    axis.set_title(f"Configurations, {protocol} protocol")
    axis.legend()
    data = _png(figure)
    plt.close(figure)
    return data


def render(record: dict, figure_prefix: str) -> tuple[str, dict[str, bytes]]:
    """Markdown text and ``{file name: PNG bytes}`` of the figures it links."""
    lines = [f"# Parameter sweep: k={record['k']}, {record['split']} split",
             "",
             f"Generated by `python -m pseudo_labels report` from the sweep JSON. {record['n_images']} images, eval size "
             f"{record['eval_resolution'][0]}x{record['eval_resolution'][1]}, semantics `{record.get('semantic_subdir')}`, "
             f"depth `{record['depth_subdir']}`, blur sigma {record['depth_blur_sigma']}, "
             f"dilation {record['dilation_iters']}.", ""]
    figures: dict[str, bytes] = {}
    for protocol in record["protocols"]:
        entries = [e for e in record["results"] if e["protocol"] == protocol]
        best = record["best"][protocol]
        heat, scatter = f"{figure_prefix}_{protocol}_heatmap.png", f"{figure_prefix}_{protocol}_stuff_things.png"
        figures[heat] = heatmap_png(entries, protocol)
        figures[scatter] = scatter_png(entries, protocol)
        lines += [f"## {protocol.capitalize()} protocol", "", PROTOCOL_TEXT[protocol], "",
                  f"Best: tau / A_min = {_label(best)}: PQ {best['PQ']:.2f}, PQ_stuff {best['PQ_stuff']:.2f}, "
                  f"PQ_things {best['PQ_things']:.2f}, SQ {best['SQ']:.2f}, RQ {best['RQ']:.2f}.", "",
                  *summary_table(entries), "", f"### Per class, best configuration ({_label(best)})", "",
                  *class_table(best), "", f"![PQ over the grid]({heat})", "", f"![PQ_stuff vs PQ_things]({scatter})", ""]
        if len({e["PQ_stuff"] for e in entries}) == 1:
            lines += ["PQ_stuff is the same for every configuration: tau and A_min change only the thing instances.", ""]
    lines += ["## Inputs", "", "| input | files | sha256 |", "|---|---|---|"]
    for name, value in record.get("inputs", {}).items():
        lines.append(f"| {name} | {value.get('count', 1)} | `{value['sha256']}` |")
    return "\n".join(lines) + "\n", figures


def write_report(sweep_json: Path, out: Path) -> Path:
    """Render ``sweep_json`` to ``out`` (Markdown) with its figures beside it."""
    try:
        record = json.loads(Path(sweep_json).read_text())
    except FileNotFoundError:
        raise InputError(f"{sweep_json}: sweep JSON not found.") from None
    except ValueError as exc:
        raise InputError(f"{sweep_json}: not JSON ({exc}).") from None
    if "results" not in record or "best" not in record:
        raise InputError(f"{sweep_json}: not a sweep result of this toolkit (no 'results'/'best'); re-run the sweep.")
    text, figures = render(record, out.stem)
    for name, data in figures.items():
        write_bytes_atomic(out.parent / name, data)
    return write_text(out, text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", required=True, type=Path, help="sweep JSON written by sweep_k50_spidepth.py")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file (default: reports/{sweep stem}.md)")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = args.out or Path("reports") / f"{args.sweep.stem}.md"
    print(f"report: {write_report(args.sweep, out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
