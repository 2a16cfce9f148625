"""The report's figures, from the sweep JSON's entries: PNG, SVG or PDF bytes (Agg backend), legible at half size.

* :func:`heatmap`: PQ and PQ_things over (tau, A_min), one map above the
  other, tau as evenly spaced categories. Values are written in the cells when
  they fit at a legible size (:func:`cell_font_size`), else the report puts
  them in a table; the best and the published (0.20, 1000) cells carry symbols
  that the legend names; cells the sweep did not run are hatched; CC-only is a
  marked line on each colour scale.
* :func:`area_lines`: PQ_things and instances per image against A_min, one
  line per tau (CC-only dashed). This replaces a PQ_stuff-vs-PQ_things plot,
  which is flat by construction: tau and A_min never change stuff segments.
* :func:`per_class`: per-class PQ bars of each protocol's best configuration;
  a class scored 0 gets a marker at 0, a class a protocol did not evaluate gets
  nothing; with intervals, their whiskers.

Every function returns ``{format: bytes}`` for the formats asked
(:data:`FORMATS`); the bytes do not depend on the time they were made.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.bootstrap import Intervals
from pseudo_labels.evaluation.cups_protocol import CLASS_NAMES as CUPS_CLASS_NAMES
from pseudo_labels.instances.settings import PUBLISHED_MIN_AREA, PUBLISHED_TAU
from pseudo_labels.report.colour import OKABE_ITO, readable_text

FIGURE_DPI = 100
FORMATS = ("png", "svg", "pdf")
"""Figure file formats: PNG for screens, SVG and PDF (vector) for papers."""
PUBLISHED = (PUBLISHED_TAU, PUBLISHED_MIN_AREA)
"""The (tau, A_min) behind the published numbers."""
PUBLISHED_TEXT = f"({PUBLISHED_TAU:.2f}, {PUBLISHED_MIN_AREA})"
STYLE = {"font.size": 13, "axes.titlesize": 16, "axes.labelsize": 14, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 12, "figure.titlesize": 17, "svg.hashsalt": "pseudo-labels",
         "svg.fonttype": "none", "pdf.fonttype": 42}
"""At least 12 pt everywhere and 16 pt titles at the native size (still 6 pt at half size); text stays text in SVG/PDF."""
RC = ["default", STYLE]
"""What figures are drawn with: matplotlib's own defaults, then :data:`STYLE`; never a user's matplotlibrc (same bytes anywhere)."""
MIN_CELL_FONT = 12.0
"""Smallest font written in a heat-map cell; below it the values go to a table instead."""
MAX_CELL_FONT = 14.0
HEATMAP_WIDTH = 13.0
HEATMAP_ROW = 0.5
"""Inches per A_min row of each map."""
BEST_MARKER = {"marker": "*", "markersize": 17, "markerfacecolor": "white", "markeredgecolor": "black",
               "markeredgewidth": 1.4, "linestyle": "none"}
PUBLISHED_MARKER = {"marker": "D", "markersize": 10, "markerfacecolor": "none", "markeredgecolor": "white",
                    "markeredgewidth": 2.2, "linestyle": "none"}
PUBLISHED_HALO = {"marker": "D", "markersize": 10, "markerfacecolor": "none", "markeredgecolor": "black",
                  "markeredgewidth": 4.0, "linestyle": "none"}
CC_LINE = {"color": "black", "linewidth": 6}
CC_DASH = {"color": "white", "linewidth": 2.5, "linestyle": (0, (1.5, 1))}
UNTESTED = {"facecolor": "white", "edgecolor": "0.45", "hatch": "///", "linewidth": 0}
LINES_SIZE = (14.0, 5.5)
PER_CLASS_WIDTH = 12.0
PER_CLASS_ROW = 0.42
"""Inches per class row of the per-class bars."""
PROTOCOL_COLOURS = {"reference": OKABE_ITO["blue"], "official": OKABE_ITO["orange"], "cups": OKABE_ITO["bluish green"]}
"""Okabe-Ito colours, distinguishable with the common colour-vision deficiencies."""


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rgb(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    return tuple(c / 255.0 for c in colour)  # type: ignore[return-value]


def _encode(figure, formats: Sequence[str]) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    """The figure in each format, without time stamps (so reruns give the same bytes)."""
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
                "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None}}
    out = {}
    figure.draw_without_rendering()  # settle the constrained layout (two passes), so no format depends on which came first
    figure.draw_without_rendering()
    figure.set_layout_engine("none")
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"unknown figure format {fmt!r}; use one of {FORMATS}")
        buffer = io.BytesIO()
        logging.getLogger("fontTools").setLevel(logging.WARNING)  # PDF font subsetting logs every table at INFO
        figure.savefig(buffer, format=fmt, dpi=FIGURE_DPI, metadata=metadata[fmt])
        out[fmt] = buffer.getvalue()
    return out


def depth_entries(entries: Sequence[dict]) -> list[dict]:
    return [e for e in entries if e["mode"] != "cc_only"]


def cc_entry(entries: Sequence[dict]) -> dict | None:
    return next((e for e in entries if e["mode"] == "cc_only"), None)


def grid_of(entries: Sequence[dict], metric: str) -> tuple[list[float], list[int], np.ndarray]:
    """(taus, A_mins, (A_mins, taus) array of ``metric``), NaN where the sweep ran no such pair."""
    runs = depth_entries(entries)
    taus = sorted({e["grad_threshold"] for e in runs})
    areas = sorted({e["min_area"] for e in runs})
    grid = np.full((len(areas), len(taus)), np.nan)
    for e in runs:
        grid[areas.index(e["min_area"]), taus.index(e["grad_threshold"])] = np.nan if e[metric] is None else e[metric]
    return taus, areas, grid


def cell_font_size(cell_width_pt: float, cell_height_pt: float, text: str = "00.0") -> float | None:
    """The font size (pt) at which ``text`` fills at most 80 % of a cell's width, capped; None below legibility.

    DejaVu Sans digits are 0.64 em wide, the point 0.32 em.
    """
    em = sum(0.32 if c == "." else 0.64 for c in text)
    size = min(MAX_CELL_FONT, 0.8 * cell_width_pt / em, 0.55 * cell_height_pt)
    return size if size >= MIN_CELL_FONT else None


def heatmap_values_fit(entries: Sequence[dict]) -> bool:
    """Whether :func:`heatmap` writes the values in its cells (else the report shows them in a table)."""
    return _cell_font(len(grid_of(entries, "PQ")[0])) is not None


def _cell_font(columns: int) -> float | None:
    """The cell font of a map with ``columns`` taus (the maps' width is fixed; rows are HEATMAP_ROW high)."""
    width_pt = (HEATMAP_WIDTH - 3.4) * 72.0 / max(columns, 1)  # less the A_min labels and the colour bar
    return cell_font_size(width_pt, HEATMAP_ROW * 72.0)


def _published_cell(tau: float, area: int) -> bool:
    return (round(tau, 6), area) == PUBLISHED


def heatmap(entries: Sequence[dict], protocol: str, formats: Sequence[str] = ("png",)) -> dict[str, bytes]:
    """PQ and PQ_things over the grid (see the module docstring); the best cell is the best PQ configuration."""
    plt = _pyplot()
    from matplotlib.colors import Normalize
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    runs = depth_entries(entries)
    cc = cc_entry(entries)
    best = max(runs, key=lambda e: e["PQ"]) if runs else None
    taus, areas, _ = grid_of(entries, "PQ")
    font = _cell_font(len(taus))
    map_height = max(2.2, HEATMAP_ROW * len(areas) + 1.6)
    with plt.style.context(RC):
        figure, axes = plt.subplots(2, 1, figsize=(HEATMAP_WIDTH, 2 * map_height + 1.0), layout="constrained")
        for axis, metric in zip(axes, ("PQ", "PQ_things")):
            _, _, grid = grid_of(entries, metric)
            values = [v for v in grid.ravel() if not np.isnan(v)] + ([cc[metric]] if cc and cc[metric] is not None else [])
            low, high = (min(values), max(values)) if values else (0.0, 1.0)
            if high <= low:
                low, high = low - 0.5, high + 0.5
            cmap = plt.get_cmap("viridis")
            norm = Normalize(low, high)
            image = axis.imshow(np.ma.masked_invalid(grid), origin="lower", aspect="auto", cmap=cmap, norm=norm)
            for row, area in enumerate(areas):
                for col, tau in enumerate(taus):
                    value = grid[row, col]
                    if np.isnan(value):
                        axis.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, **UNTESTED))
                        continue
                    if font is not None:
                        colour = readable_text(tuple(255 * c for c in cmap(norm(value))[:3]))
                        axis.text(col, row - 0.12, f"{value:.1f}", ha="center", va="center", fontsize=font, color=colour)
                    if best is not None and (tau, area) == (best["grad_threshold"], best["min_area"]):
                        axis.plot(col - 0.32, row + 0.3, **BEST_MARKER)
                    if _published_cell(tau, area):
                        axis.plot(col + 0.32, row + 0.3, **PUBLISHED_HALO)
                        axis.plot(col + 0.32, row + 0.3, **PUBLISHED_MARKER)
            axis.set_xlim(-0.5, len(taus) - 0.5)
            axis.set_ylim(-0.5, len(areas) - 0.5)
            axis.set_xticks(range(len(taus)), [f"{t:.2f}" for t in taus])
            axis.set_yticks(range(len(areas)), [str(a) for a in areas])
            axis.set_xlabel("tau (depth-gradient threshold; categories, evenly spaced)")
            axis.set_ylabel("A_min (px)")
            axis.set_title(f"{metric}, {protocol} protocol" + ("" if font is not None else " (values: table below)"))
            bar = figure.colorbar(image, ax=axis, fraction=0.06, pad=0.015, aspect=12)
            bar.set_label(metric)
            handles = [Line2D([], [], label="best PQ", **BEST_MARKER),
                       (Line2D([], [], **PUBLISHED_HALO), Line2D([], [], **PUBLISHED_MARKER)),
                       Patch(label="not run", **UNTESTED)]
            in_grid = any(_published_cell(e["grad_threshold"], e["min_area"]) for e in runs)
            labels = ["best PQ", f"published {PUBLISHED_TEXT}" + ("" if in_grid else ": not in this grid"), "not run"]
            if cc is not None and cc[metric] is not None:
                bar.ax.axhline(cc[metric], **CC_LINE)
                bar.ax.axhline(cc[metric], **CC_DASH)
                handles.append((Line2D([], [], **CC_LINE), Line2D([], [], **CC_DASH)))
                labels.append(f"CC-only (no depth): {cc[metric]:.1f}, on the colour scale")
            axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(labels),
                        frameon=False, handlelength=2.2)
        data = _encode(figure, formats)
        plt.close(figure)
    return data


def area_lines(entries: Sequence[dict], protocol: str, formats: Sequence[str] = ("png",)) -> dict[str, bytes]:
    """PQ_things and instances/image against A_min, one line per tau; CC-only as a dashed line."""
    plt = _pyplot()
    runs = depth_entries(entries)
    cc = cc_entry(entries)
    taus = sorted({e["grad_threshold"] for e in runs})
    markers = "osD^vP*Xhp<>8"
    with plt.style.context(RC):
        figure, axes = plt.subplots(1, 2, figsize=LINES_SIZE, layout="constrained")
        colours = plt.get_cmap("viridis")(np.linspace(0.0, 0.9, max(len(taus), 1)))
        for axis, metric, label in ((axes[0], "PQ_things", "PQ_things"), (axes[1], "avg_instances", "instances / image")):
            for index, (colour, tau) in enumerate(zip(colours, taus)):
                line = sorted((e for e in runs if e["grad_threshold"] == tau), key=lambda e: e["min_area"])
                axis.plot([e["min_area"] for e in line], [e[metric] for e in line], marker=markers[index % len(markers)],
                          color=colour, linewidth=2, label=f"tau {tau:.2f}")
            if cc is not None and cc[metric] is not None:
                axis.axhline(cc[metric], color="black", linestyle="--", linewidth=1.5, label="CC-only")
            axis.set_xlabel("A_min (px at the eval size)")
            axis.set_ylabel(label)
            axis.set_title(f"{label} against A_min ({protocol})")
            axis.grid(alpha=0.3)
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        data = _encode(figure, formats)
        plt.close(figure)
    return data


def class_order(best: dict[str, dict]) -> list[str]:
    """The rows of :func:`per_class`: stuff classes, then things, of the 19 trainIds or (with CUPS) the 27 classes."""
    known = {name: row["thing"] for p in best for name, row in best[p]["per_class"].items()}
    order = CUPS_CLASS_NAMES if set(known) - set(cs.CLASS_NAMES) else cs.CLASS_NAMES
    return [n for n in order if n in known and not known[n]] + [n for n in order if n in known and known[n]]


def class_marks(entry: dict, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(PQ, bar, zero marker) per class of ``names`` for one protocol's entry: a bar for PQ > 0, a marker for PQ 0.

    A class the entry did not evaluate, or does not know, gets neither (PQ 0 is then a placeholder).
    """
    table = entry["per_class"]
    evaluated = np.array([name in table and bool(table[name]["evaluated"]) for name in names], bool)
    values = np.array([table[name]["PQ"] if ok else 0.0 for name, ok in zip(names, evaluated)], np.float64)
    return values, evaluated & (values > 0), evaluated & (values == 0)


def per_class(best: dict[str, dict], intervals: dict[str, tuple[Intervals, int]] | None = None,
              formats: Sequence[str] = ("png",)) -> dict[str, bytes]:
    """Per-class PQ of each protocol's best configuration, grouped bars (stuff classes, then things).

    A class a protocol scores 0 gets a marker at 0; one it did not evaluate
    (absent from its GT and predictions, or not in its class space: CUPS'
    8 extra classes under the 19-class protocols) gets neither bar nor marker.
    ``intervals``: per protocol, its :class:`Intervals` and the best's index,
    drawn as whiskers.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    protocols = list(best)
    names = class_order(best)
    known = {name: row["thing"] for p in protocols for name, row in best[p]["per_class"].items()}
    with plt.style.context(RC):
        figure, axis = plt.subplots(figsize=(PER_CLASS_WIDTH, PER_CLASS_ROW * len(names) + 2.0), layout="constrained")
        rows = np.arange(len(names))
        height = 0.8 / max(len(protocols), 1)
        for index, protocol in enumerate(protocols):
            entry, colour = best[protocol], _rgb(PROTOCOL_COLOURS.get(protocol, (120, 120, 120)))
            table = entry["per_class"]
            columns = {name: i for i, name in enumerate(table)}
            offset = rows + (index - (len(protocols) - 1) / 2) * height
            values, bars, zero = class_marks(entry, names)
            evaluated = bars | zero
            where = "CC-only" if entry["mode"] == "cc_only" else f"{entry['grad_threshold']:.2f} / {entry['min_area']}"
            label = f"{protocol} (best: tau / A_min {where}, PQ {entry['PQ']:.1f})"
            axis.barh(offset[bars], values[bars], height, color=colour, label=label)
            axis.plot(np.zeros(zero.sum()), offset[zero], marker="o", markersize=7, color=colour,
                      markeredgecolor="black", linestyle="none", clip_on=False, zorder=3)
            if intervals and protocol in intervals:
                found, config = intervals[protocol]
                cols = np.array([columns[n] if n in columns else 0 for n in names])
                low, high = found.class_low[config, cols], found.class_high[config, cols]
                shown = evaluated & ~np.isnan(low)
                axis.errorbar(values[shown], offset[shown], xerr=[values[shown] - low[shown], high[shown] - values[shown]],
                              fmt="none", ecolor="black", elinewidth=1.2, capsize=2.5)
        for row, name in enumerate(names):
            if not any(name in best[p]["per_class"] and best[p]["per_class"][name]["evaluated"] for p in protocols):
                axis.text(2, row, "not evaluated (absent from GT and predictions)", va="center", color="0.3")
        axis.set_yticks(rows, [f"{n} ({'thing' if known[n] else 'stuff'})" for n in names])
        axis.set_ylim(len(names) - 0.5, -0.5)
        axis.axhline(sum(not known[n] for n in names) - 0.5, color="black", linewidth=1)
        axis.set_xlabel("PQ (%)" + (", whiskers: 95 % bootstrap interval" if intervals else ""))
        axis.set_xlim(0, 100)
        axis.set_title("Per-class PQ, best configuration of each protocol")
        handles, labels = axis.get_legend_handles_labels()
        handles.append(Line2D([], [], marker="o", markersize=7, color="0.6", markeredgecolor="black", linestyle="none"))
        labels.append("PQ 0 (evaluated, nothing matched); no bar and no marker: not evaluated")
        axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.6 / len(names) - 0.03),
                    ncol=1, frameon=False)
        axis.grid(axis="x", alpha=0.3)
        data = _encode(figure, formats)
        plt.close(figure)
    return data
