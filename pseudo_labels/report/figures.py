"""The report's figures, from the sweep JSON's entries: PNG bytes, Agg backend, legible at half size.

* :func:`heatmap_png`: PQ and PQ_things over (tau, A_min), values in the cells,
  the best cell and the published (0.20, 1000) setting marked, cells the sweep
  did not run hatched, the CC-only baseline in its own cell beside the grid.
* :func:`area_lines_png`: PQ_things and instances per image against A_min, one
  line per tau (CC-only dashed). This replaces a PQ_stuff-vs-PQ_things plot,
  which is flat by construction: tau and A_min never change stuff segments.
* :func:`per_class_png`: per-class PQ bars of each protocol's best configuration.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation.cups_protocol import CLASS_NAMES as CUPS_CLASS_NAMES
from pseudo_labels.instances.settings import PUBLISHED_MIN_AREA, PUBLISHED_TAU

FIGURE_DPI = 100
PUBLISHED = (PUBLISHED_TAU, PUBLISHED_MIN_AREA)
"""The (tau, A_min) behind the published numbers."""
PUBLISHED_TEXT = f"({PUBLISHED_TAU:.2f}, {PUBLISHED_MIN_AREA})"
STYLE = {"font.size": 13, "axes.titlesize": 16, "axes.labelsize": 14, "xtick.labelsize": 12,
         "ytick.labelsize": 12, "legend.fontsize": 12, "figure.titlesize": 17}
"""At least 12 pt everywhere and 16 pt titles at the native size (still 8 pt at half size)."""
HEATMAP_SIZE = (15.0, 6.5)
BEST_BOX = {"edgecolor": "red", "linewidth": 3}
PUBLISHED_BOX = {"edgecolor": "white", "linewidth": 2.5, "linestyle": "--"}
LINES_SIZE = (14.0, 5.5)
PER_CLASS_SIZE = (12.0, 8.0)


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, metadata={"Software": None})
    return buffer.getvalue()


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


def _cell_text_colour(value: float, low: float, high: float) -> str:
    return "black" if high > low and (value - low) / (high - low) > 0.6 else "white"


def heatmap_png(entries: Sequence[dict], protocol: str) -> bytes:
    """PQ and PQ_things over the grid (see the module docstring); the best cell is the best PQ configuration."""
    plt = _pyplot()
    from matplotlib.patches import Patch, Rectangle

    runs = depth_entries(entries)
    cc = cc_entry(entries)
    best = max(runs, key=lambda e: e["PQ"]) if runs else None
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 4, figsize=HEATMAP_SIZE, constrained_layout=True,
                                    gridspec_kw={"width_ratios": [8, 1, 8, 1]})
        for axis, cc_axis, metric in ((axes[0], axes[1], "PQ"), (axes[2], axes[3], "PQ_things")):
            taus, areas, grid = grid_of(entries, metric)
            values = [v for v in grid.ravel() if not np.isnan(v)] + ([cc[metric]] if cc else [])
            low, high = (min(values), max(values)) if values else (0.0, 1.0)
            image = axis.imshow(grid, origin="lower", aspect="auto", cmap="viridis", vmin=low, vmax=high)
            for row, area in enumerate(areas):
                for col, tau in enumerate(taus):
                    value = grid[row, col]
                    if np.isnan(value):
                        axis.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, hatch="///",
                                                 edgecolor="grey", linewidth=0))
                        continue
                    axis.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=12,
                              color=_cell_text_colour(value, low, high))
                    if best is not None and (tau, area) == (best["grad_threshold"], best["min_area"]):
                        axis.add_patch(Rectangle((col - 0.47, row - 0.47), 0.94, 0.94, fill=False, **BEST_BOX))
                    if (round(tau, 6), area) == PUBLISHED:
                        axis.add_patch(Rectangle((col - 0.4, row - 0.4), 0.8, 0.8, fill=False, **PUBLISHED_BOX))
            axis.set_xticks(range(len(taus)), [f"{t:.2f}" for t in taus], rotation=90)
            axis.set_yticks(range(len(areas)), [str(a) for a in areas])
            axis.set_xlabel("tau (depth-gradient threshold)")
            axis.set_ylabel("A_min (px at the eval size)")
            axis.set_title(f"{metric}, {protocol} protocol")
            handles = [Patch(facecolor="white", **BEST_BOX, label="best PQ"),
                       Patch(facecolor="dimgrey", **PUBLISHED_BOX, label=f"published {PUBLISHED_TEXT}"),
                       Patch(facecolor="white", hatch="///", edgecolor="grey", label="not run")]
            axis.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
            cc_axis.set_xticks([])
            cc_axis.set_yticks([])
            cc_axis.set_title("CC-only")
            if cc is None:
                cc_axis.add_patch(Rectangle((0, 0), 1, 1, fill=False, hatch="///", edgecolor="grey"))
                cc_axis.text(0.5, 0.5, "not run", ha="center", va="center", transform=cc_axis.transAxes)
            else:
                cc_axis.imshow([[cc[metric]]], aspect="auto", cmap="viridis", vmin=low, vmax=high)
                cc_axis.text(0, 0, f"{cc[metric]:.1f}", ha="center", va="center", fontsize=13,
                             color=_cell_text_colour(cc[metric], low, high))
            figure.colorbar(image, ax=cc_axis, fraction=0.5)
        data = _png(figure)
        plt.close(figure)
    return data


def area_lines_png(entries: Sequence[dict], protocol: str) -> bytes:
    """PQ_things and instances/image against A_min, one line per tau; CC-only as a dashed line."""
    plt = _pyplot()
    runs = depth_entries(entries)
    cc = cc_entry(entries)
    taus = sorted({e["grad_threshold"] for e in runs})
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 2, figsize=LINES_SIZE, constrained_layout=True)
        colours = plt.get_cmap("plasma")(np.linspace(0.0, 0.85, max(len(taus), 1)))
        for axis, metric, label in ((axes[0], "PQ_things", "PQ_things"), (axes[1], "avg_instances", "instances / image")):
            for colour, tau in zip(colours, taus):
                line = sorted((e for e in runs if e["grad_threshold"] == tau), key=lambda e: e["min_area"])
                axis.plot([e["min_area"] for e in line], [e[metric] for e in line], marker="o", color=colour,
                          linewidth=2, label=f"tau {tau:.2f}")
            if cc is not None:
                axis.axhline(cc[metric], color="black", linestyle="--", linewidth=1.5, label="CC-only")
            axis.set_xlabel("A_min (px at the eval size)")
            axis.set_ylabel(label)
            axis.set_title(f"{label} against A_min ({protocol})")
            axis.grid(alpha=0.3)
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0))
        data = _png(figure)
        plt.close(figure)
    return data


def per_class_png(best: dict[str, dict]) -> bytes:
    """Per-class PQ of each protocol's best configuration, grouped bars (stuff classes, then things).

    The rows are the classes any protocol scores: the 19 trainIds, or CUPS' 27
    when the CUPS protocol is among them (its 8 extra classes get no bar from
    the 19-class protocols).
    """
    plt = _pyplot()
    protocols = list(best)
    known = {name: row["thing"] for p in protocols for name, row in best[p]["per_class"].items()}
    order = CUPS_CLASS_NAMES if set(known) - set(cs.CLASS_NAMES) else cs.CLASS_NAMES
    names = [n for n in order if not known[n]] + [n for n in order if known[n]]
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(PER_CLASS_SIZE[0], PER_CLASS_SIZE[1] * len(names) / cs.NUM_CLASSES),
                                    constrained_layout=True)
        rows = np.arange(len(names))
        height = 0.8 / max(len(protocols), 1)
        for index, protocol in enumerate(protocols):
            entry = best[protocol]
            table = entry["per_class"]
            values = [table[name]["PQ"] if name in table and table[name]["evaluated"] else 0.0 for name in names]
            where = "CC-only" if entry["mode"] == "cc_only" else f"{entry['grad_threshold']:.2f} / {entry['min_area']}"
            axis.barh(rows + (index - (len(protocols) - 1) / 2) * height, values, height,
                      label=f"{protocol} (best: tau / A_min {where}, PQ {entry['PQ']:.1f})")
        for row, name in enumerate(names):
            if not any(name in best[p]["per_class"] and best[p]["per_class"][name]["evaluated"] for p in protocols):
                axis.text(1, row, "not evaluated (absent from GT and predictions)", va="center", color="grey")
        axis.set_yticks(rows, [f"{n} ({'thing' if known[n] else 'stuff'})" for n in names])
        axis.invert_yaxis()
        axis.axhline(sum(not known[n] for n in names) - 0.5, color="black", linewidth=1)
        axis.set_xlabel("PQ (%)")
        axis.set_xlim(0, 100)
        axis.set_title("Per-class PQ, best configuration of each protocol")
        axis.legend(loc="lower right")
        axis.grid(axis="x", alpha=0.3)
        data = _png(figure)
        plt.close(figure)
    return data
