"""The report of a sweep as blocks, Markdown and (through :mod:`~pseudo_labels.report.html`) HTML, with its figures.

The report says first where the data comes from (synthetic or not) and what
made its semantics and depth (:mod:`~pseudo_labels.report.provenance`), how
its intervals are made (:mod:`~pseudo_labels.report.intervals`), then per
protocol: the best configuration with 95 % bootstrap intervals, the
published setting's difference to it, the heat map (values in the cells when
they fit, else tables; best and published cells marked, untested cells
hatched, CC-only on the colour scale), PQ_things and instances per image
against A_min (one line per tau), the configurations sorted by PQ with
intervals and their verdict against the best, and the per-class table of the
best; per-class PQ bars of every protocol; with ``--pictures`` (a
``visualize`` output folder) a gallery of the worst images and a per-image
table; the inputs' hashes. Every number comes from the JSON files and the
sweep's per-image statistics.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.formats.sweep_json import read_sweep as read_sweep_file
from pseudo_labels.report import figures as figs
from pseudo_labels.report import html as report_html
from pseudo_labels.report import intervals as report_intervals
from pseudo_labels.report.drawing import status_text
from pseudo_labels.report.intervals import ReportIntervals
from pseudo_labels.report.provenance import Origin, data_origin, sources_text
from pseudo_labels.report.text import Bold, Code, Data, Inline, Link, file_url, from_markup
from pseudo_labels.report.text import to_markdown as inline_markdown
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_bytes_atomic, write_text
from pseudo_labels.evaluation.bootstrap import METRICS, RESAMPLES, SEED, Intervals
from pseudo_labels.instances.settings import SplitSettings

PROTOCOL_TEXT = {
    "reference": ("Reference protocol (behind the published numbers): at the eval size, a stuff segment is a whole "
                  "class with >= 64 px, predicted instances are painted largest first onto free pixels and kept with "
                  ">= 10 new px, GT instances are instanceIds >= 1000 with >= 10 px; a match needs IoU > 0.5 over all "
                  "pixels (void included); PQ averages the classes with TP+FP+FN > 0; SQ and RQ are pooled over classes."),
    "official": ("Official protocol (cityscapesscripts evalPanopticSemanticLabeling): full GT resolution, void pixels "
                 "leave the union, crowd regions are never matched, a prediction lying > 50 % in void or same-class "
                 "crowd is not a false positive, no area filters; PQ, SQ and RQ are class means."),
    "cups": ("CUPS protocol (how CUPS scores its PQ 27.8): the labels the CUPS export writes for each configuration, "
             "27 classes (labelIds 7..33) at the eval size, pseudo-classes split into things and stuff by CUPS' .pt "
             "rule and matched to classes on this split's GT (Hungarian, then argmax; things and stuff apart), crowd "
             "regions as ordinary segments, torchmetrics' segment rules; PQ, SQ and RQ are class means. The matching "
             "looks at the ground truth, as CUPS' evaluation does."),
}
PROTOCOL_TITLE = {"reference": "Reference", "official": "Official", "cups": "CUPS"}
GALLERY_SIZE = 8
MARKDOWN_IMAGE_ROWS = 20
"""Per-image rows in the Markdown (worst first); the HTML table holds every image."""
IMAGE_COLUMNS = ("image", "PQ", "PQ_stuff", "PQ_things", "instances", "TP th", "FP th", "FN th", "split th",
                 "merge th", "TP st", "FP st", "FN st")

Block = tuple
"""One piece of the document: ``("h1"|"h2"|"h3"|"p"|"banner", text)``, ``("table", header, rows)``,
``("figure", file, alt[, [(label, other file)]])``, ``("gallery", [(file, caption)])``, ``("images", header, rows, links)``.
Every text, caption and cell is :data:`~pseudo_labels.report.text.Inline` (data in ``Data``/``Code`` spans, so it
stays text); files and links are relative paths the report chose, URL-encoded by the writers."""


# --------------------------------------------------------------------------- pictures from visualize


def read_pictures(folder: Path) -> dict:
    """``index.json`` of a ``visualize`` output folder; a missing or corrupt one names the fix."""
    path = Path(folder) / "index.json"
    try:
        index = json.loads(path.read_text())
        index["images"]  # noqa: B018 - the key is the format check
    except FileNotFoundError:
        raise InputError(f"{path}: not found. Run `python -m pseudo_labels visualize ... --out {folder}` first, "
                         f"or leave out --pictures.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not an index written by visualize ({exc}); re-run visualize.") from None
    return index


def worst_images(images: Sequence[dict]) -> list[dict]:
    """Scored images by ascending PQ_things (unscored last), ties in index order."""
    return sorted(images, key=lambda e: (e.get("PQ_things") is None, e.get("PQ_things") or 0.0))


def _number(value: object, digits: int = 1) -> Inline:
    """A number from a JSON file: floats with ``digits`` decimals, "n/a" for None, anything else as data."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value) if isinstance(value, int) else Data(str(value))


def _value(value: object) -> Inline:
    """A setting from a JSON file as the report writes it: a number as Python prints it, anything else as data."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else Data(str(value))


def _join(parts: Sequence[Inline], separator: str) -> tuple:
    """``parts`` one after another, ``separator`` between them, as one text."""
    out: list = []
    for i, part in enumerate(parts):
        out += ([separator] if i else []) + list(part if isinstance(part, tuple) else (part,))
    return tuple(out)


def image_rows(images: Sequence[dict], base: str) -> tuple[list[list[Inline]], list[str | None]]:
    """Per-image table rows (worst first) and the picture each links (``base`` + file, or None)."""
    rows, links = [], []
    for e in worst_images(images):
        things, stuff = e.get("things", {}), e.get("stuff", {})
        rows.append([Data(str(e["stem"])), _number(e.get("PQ")), _number(e.get("PQ_stuff")), _number(e.get("PQ_things")),
                     _number(e["instances"]), *(_number(things.get(k)) for k in ("TP", "FP", "FN", "split", "merge")),
                     *(_number(stuff.get(k)) for k in ("TP", "FP", "FN"))])
        links.append(f"{base}/{e['picture']}" if e.get("picture") else None)
    return rows, links


def picture_blocks(index: dict, base: str, record: dict) -> list[Block]:
    """Gallery of the worst drawn images and the per-image table."""
    kind = "class-agnostic PQ_things (label-free labels)" if index.get("label_free") else "PQ_things"
    blocks: list[Block] = [("h2", "Worst images"), (
        "p", ("Pictures by ", Code("visualize"), " (", Data(str(index["protocol"])), " protocol, ",
              Data(SplitSettings.from_record(index).describe()), ", selection ", Code(str(index["select"])),
              ", labels ", Code(str(index["units"])), f"), sorted by per-image {kind}, worst first. Panels: input, "
              f"depth edges, semantic pseudo-labels, ground truth, predicted and GT instances, errors of things and "
              f"of stuff ({status_text()})."))]
    if (index.get("split"), index.get("semantic_subdir")) != (record.get("split"), record.get("semantic_subdir")):
        blocks.append(("p", (Bold("Note:"), " the pictures show ", Code(str(index.get("semantic_subdir"))), " (",
                             Data(str(index.get("split"))), "), the sweep ", Code(str(record.get("semantic_subdir"))),
                             " (", Data(str(record.get("split"))), ").")))
    drawn = [e for e in worst_images(index["images"]) if e.get("picture")][:GALLERY_SIZE]
    gallery = []
    for e in drawn:
        th = e.get("things", {})
        gallery.append((f"{base}/{e['picture']}", (
            Data(str(e["stem"])), ": PQ_things ", _number(e.get("PQ_things")), ", TP ", _number(th.get("TP")),
            ", FP ", _number(th.get("FP")), ", FN ", _number(th.get("FN")), ", split ", _number(th.get("split")))))
    blocks.append(("gallery", gallery) if gallery else ("p", "No picture was drawn."))
    rows, links = image_rows(index["images"], base)
    blocks += [("h2", "Per image"), ("p", (f"{len(rows)} images scored by ", Code("visualize"), f", worst {kind} "
                                           f"first (th: things, st: stuff; split/merge count GT objects and "
                                           f"predictions).")),
               ("images", list(IMAGE_COLUMNS), rows, links)]
    return blocks


# --------------------------------------------------------------------------- the document


def _label(entry: dict) -> Inline:
    """A configuration's name in tables and text: "0.20 / 1000" or "CC-only"."""
    if entry["mode"] == "cc_only":
        return "CC-only"
    area = entry["min_area"]
    return (f"{entry['grad_threshold']:.2f} / ", str(area) if isinstance(area, int) else Data(str(area)))


def _num(value: float | None) -> str:
    """Two decimals; "n/a" where a protocol has no value (no class counted)."""
    return "n/a" if value is None else f"{value:.2f}"


def summary_table(entries: Sequence[dict], intervals: Intervals | None = None) -> Block:
    """The scored configurations, best PQ first (ties keep the grid order), with intervals and the verdict vs the best.

    ``entries`` are one protocol's entries in the record's order (the order of ``intervals``).
    """
    order = sorted((i for i, e in enumerate(entries) if e["PQ"] is not None), key=lambda i: -entries[i]["PQ"])
    if intervals is None:
        rows = [[_label(e), f"{e['avg_instances']:.1f}", _num(e["PQ"]), _num(e["PQ_stuff"]), _num(e["PQ_things"]),
                 _num(e["SQ"]), _num(e["RQ"])] for e in (entries[i] for i in order)]
        return ("table", ["tau / A_min", "inst/img", "PQ", "PQ_stuff", "PQ_things", "SQ", "RQ"], rows)
    verdict = report_intervals.verdicts(intervals, entries)
    rows = [[_label(entries[i]), f"{entries[i]['avg_instances']:.1f}",
             *(report_intervals.ci(entries[i][m], intervals.low[m][i], intervals.high[m][i]) for m in METRICS),
             _num(entries[i]["SQ"]), _num(entries[i]["RQ"]), verdict[i]] for i in order]
    return ("table", ["tau / A_min", "inst/img", "PQ [95 % CI]", "PQ_stuff [95 % CI]", "PQ_things [95 % CI]", "SQ",
                      "RQ", "vs best"], rows)


def class_table(entry: dict, intervals: Intervals | None = None, index: int | None = None) -> Block:
    """The evaluated classes of ``entry``; with ``intervals``, per-class PQ intervals of its configuration ``index``."""
    rows = []
    for column, (name, v) in enumerate(entry["per_class"].items()):
        if not v["evaluated"]:
            continue
        pq = f"{v['PQ']:.2f}" if intervals is None or index is None else report_intervals.ci(
            v["PQ"], intervals.class_low[index, column], intervals.class_high[index, column])
        rows.append([Data(str(name)), "thing" if v["thing"] else "stuff", pq, f"{v['SQ']:.2f}", f"{v['RQ']:.2f}",
                     _number(v["TP"]), _number(v["FP"]), _number(v["FN"])])
    header = "PQ" if intervals is None else "PQ [95 % CI]"
    return ("table", ["class", "kind", header, "SQ", "RQ", "TP", "FP", "FN"], rows)


def cups_text(best: dict) -> Inline:
    """What the CUPS protocol's best row rests on: its threshold, split and the absent classes it still scores."""
    source = "the midpoint of the interval that gives the centroid file's thing clusters" \
        if best.get("threshold_source") == "suggested" else "given"
    text = (f"Thing/stuff threshold {best['thing_stuff_threshold']:.6g} ({source}): {len(best['things'])} thing and "
            f"{len(best['stuffs'])} stuff pseudo-classes; mIoU {_num(best.get('mIoU'))}, accuracy "
            f"{_num(best.get('accuracy'))}.")
    forced = best.get("forced_onto_absent", {}).get("pq", {})
    if not forced:
        return text
    return (text, " Classes absent from this split's GT that the matching still gives pseudo-classes (they count "
                  "with PQ 0, as in CUPS): ",
            *_join([Data(f"{name} <- {ids}") for name, ids in forced.items()], ", "), ".")


def _published_text(entries: Sequence[dict], intervals: Intervals | None) -> str:
    published = [i for i, e in enumerate(entries) if e["mode"] != "cc_only"
                 and (round(e["grad_threshold"], 6), e["min_area"]) == figs.PUBLISHED]
    if not published:
        return f"The published setting {figs.PUBLISHED_TEXT} is not in this grid."
    i = published[0]
    e = entries[i]
    text = (f"Published setting ({figs.PUBLISHED[0]:.2f} / {figs.PUBLISHED[1]}): PQ {_ci(e, 'PQ', i, intervals)}, "
            f"PQ_things {_ci(e, 'PQ_things', i, intervals)}")
    if intervals is not None and i != intervals.best and e["PQ"] is not None:
        text += f"; PQ {report_intervals.difference_text(intervals, entries, i)}"
    return text + "."


def _ci(entry: dict, metric: str, index: int, intervals: Intervals | None) -> str:
    """A number with its interval when there is one."""
    if intervals is None:
        return _num(entry[metric])
    return report_intervals.ci(entry[metric], intervals.low[metric][index], intervals.high[metric][index])


def shown_format(formats: Sequence[str]) -> str:
    """The figure format the documents show: SVG when asked for, else PNG (browsers show no PDF in ``<img>``)."""
    return "svg" if "svg" in formats else "png"


def _figure(figures: dict[str, bytes], stem: str, made: dict[str, bytes], alt: str, formats: Sequence[str]) -> Block:
    """Keep ``made`` (format -> bytes) as ``{stem}.{format}`` files; the block shows one and links the others."""
    shown = shown_format(formats)
    for fmt, data in made.items():
        figures[f"{stem}.{fmt}"] = data
    return ("figure", f"{stem}.{shown}", alt, [(fmt.upper(), f"{stem}.{fmt}") for fmt in made if fmt != shown])


def grid_table(entries: Sequence[dict], metric: str) -> Block:
    """The heat map's values as a table (A_min rows, tau columns), for grids too wide to write them in the cells."""
    taus, areas, grid = figs.grid_of(entries, metric)
    rows = [[str(area), *("not run" if np.isnan(v) else f"{v:.1f}" for v in grid[r])] for r, area in enumerate(areas)]
    return ("table", [f"{metric}: A_min (rows), tau (columns)", *(f"{t:.2f}" for t in taus)], rows)


def render(record: dict, figure_prefix: str, origin: Origin | None = None, pictures: dict | None = None,
           pictures_base: str = "", note: str | None = None, intervals: ReportIntervals | None = None,
           formats: Sequence[str] = ("png",), sources: str | None = None) -> tuple[list[Block], dict[str, bytes]]:
    """The document's blocks and ``{file name: bytes}`` of the figures it shows (each in ``formats``).

    ``intervals``: the bootstrap intervals (:func:`pseudo_labels.report.intervals.compute`); None: none shown.
    """
    origin = origin or Origin(None, "Data origin unknown.")
    intervals = intervals or ReportIntervals({}, "No intervals were computed.")
    made = tuple(dict.fromkeys([*formats, shown_format(formats)]))
    height, width = record["eval_resolution"]
    blocks: list[Block] = [("h1", ("Parameter sweep: k=", _value(record["k"]), ", ", Data(str(record["split"])),
                                   " split" + (" (synthetic data)" if origin.synthetic else "")))]
    blocks.append(("banner", from_markup(origin.text)) if origin.synthetic else
                  ("p", Bold(from_markup(origin.text))))
    if note:
        blocks.append(("p", from_markup(note)))
    blocks.append(("p", ("Generated by ", Code("python -m pseudo_labels report"), " from the sweep JSON. k = ",
                         _value(record["k"]), " clusters, ", _value(record["n_images"]), " images, eval size ",
                         _value(height), "x", _value(width), ", semantics ", Code(str(record.get("semantic_subdir"))),
                         ", depth ", Code(str(record["depth_subdir"])), ", blur sigma ",
                         _value(record["depth_blur_sigma"]), ", dilation ", _value(record["dilation_iters"]),
                         ".")))
    if sources:
        blocks.append(("p", from_markup(sources)))
    blocks.append(("p", from_markup(intervals.note)))
    figures: dict[str, bytes] = {}
    for protocol in record["protocols"]:
        every = [e for e in record["results"] if e["protocol"] == protocol]
        entries = [e for e in every if e["PQ"] is not None]  # the CUPS protocol may leave a configuration unscored
        if not entries:
            blocks += [("h2", f"{PROTOCOL_TITLE[protocol]} protocol"), ("p", PROTOCOL_TEXT[protocol]),
                       ("p", ("No configuration could be scored: ", Data(str(every[0].get("error", "no result"))),
                              "."))]
            continue
        best = record["best"][protocol]
        found = intervals.of(protocol)
        b = every.index(best)
        cc = figs.cc_entry(entries)
        cc_text = (f" CC-only (no depth): PQ {_ci(cc, 'PQ', every.index(cc), found)}, PQ_things "
                   f"{_ci(cc, 'PQ_things', every.index(cc), found)}." if cc else "")
        blocks += [("h2", f"{PROTOCOL_TITLE[protocol]} protocol"), ("p", PROTOCOL_TEXT[protocol]),
                   ("p", ("Best: tau / A_min = ", _label(best), f": PQ {_ci(best, 'PQ', b, found)}, PQ_stuff "
                         f"{_ci(best, 'PQ_stuff', b, found)}, PQ_things {_ci(best, 'PQ_things', b, found)}, SQ "
                         f"{_num(best['SQ'])}, RQ {_num(best['RQ'])}. {_published_text(every, found)}{cc_text}"))]
        if found is not None:
            verdicts = report_intervals.verdicts(found, every)
            tied = [i for i, verdict in enumerate(verdicts) if verdict == report_intervals.TIED]
            listed = (": ", *_join([_label(every[i]) for i in tied[:12]], ", "),
                      ", ..." if len(tied) > 12 else "", ".") if tied else (".",)
            blocks.append(("p", (f"{len(tied)} of the other {len(entries) - 1} configurations are not significantly "
                                 f"different from the best (n.s. in the table)", *listed)))
        if len(entries) < len(every):
            blocks.append(("p", (f"{len(every) - len(entries)} configuration(s) not scored (",
                                 Data(str(next(e for e in every if e["PQ"] is None).get("error"))), ").")))
        if protocol == "cups":
            blocks.append(("p", cups_text(best)))
        fit = figs.heatmap_values_fit(entries)
        blocks += [
            _figure(figures, f"{figure_prefix}_{protocol}_heatmap", figs.heatmap(entries, protocol, made),
                    f"PQ and PQ_things over (tau, A_min), {protocol} protocol", formats),
            ("p", ("Values in the cells" if fit else "The grid is too wide to write legible values in its cells: "
                   "they are in the tables below") + "; star: best PQ; diamond: the published "
                  f"{figs.PUBLISHED_TEXT}; hatched: not run; the marked line on each colour scale: CC-only "
                  "(connected components, no depth). Tau is drawn as evenly spaced categories.")]
        if not fit:
            blocks += [grid_table(entries, "PQ"), grid_table(entries, "PQ_things")]
        blocks.append(_figure(figures, f"{figure_prefix}_{protocol}_amin", figs.area_lines(entries, protocol, made),
                              f"PQ_things and instances per image against A_min, {protocol} protocol", formats))
        if len({e["PQ_stuff"] for e in entries}) == 1 and entries[0]["PQ_stuff"] is not None:
            blocks.append(("p", f"PQ_stuff is {entries[0]['PQ_stuff']:.2f} for every configuration: tau and A_min "
                                f"change only the thing instances."))
        blocks += [summary_table(every, found), ("h3", ("Per class, best configuration (", _label(best), ")")),
                   class_table(best, found, b)]
    scored = [p for p in record["protocols"] if record["best"][p]["PQ"] is not None]
    whiskers = {p: (intervals.of(p), [e for e in record["results"] if e["protocol"] == p].index(record["best"][p]))
                for p in scored if intervals.of(p) is not None}
    blocks += [("h2", "Per-class PQ"),
               _figure(figures, f"{figure_prefix}_per_class",
                       figs.per_class({p: record["best"][p] for p in scored}, whiskers, made),
                       "Per-class PQ of each protocol's best configuration", formats),
               ("p", "A dot at 0: the class was evaluated and scored PQ 0. No bar and no dot: the protocol did not "
                     "evaluate the class (absent from its GT and predictions, or not one of its classes)."
                     + (" Whiskers: the 95 % bootstrap interval." if whiskers else ""))]
    if pictures is not None:
        blocks += picture_blocks(pictures, pictures_base, record)
    else:
        blocks += [("h2", "Worst images"), ("p", ("No pictures given: run ", Code("python -m pseudo_labels visualize "
                                                                                 "... --select worst --out DIR"),
                                                 ", then ", Code("report ... --pictures DIR"), "."))]
    rows = [[Data(str(name)), _number(value.get("count", 1)), Code(str(value["sha256"]))]
            for name, value in record.get("inputs", {}).items()]
    blocks += [("h2", "Inputs"), ("table", ["input", "files", "sha256"], rows)]
    return blocks, figures


# --------------------------------------------------------------------------- Markdown


def _md_row(cells: Sequence[Inline]) -> str:
    return "| " + " | ".join(inline_markdown(c, in_table=True) for c in cells) + " |"


def _md_table(header: Sequence[Inline], rows: Sequence[Sequence[Inline]]) -> list[str]:
    return [_md_row(header), _md_row(["---"] * len(header)), *(_md_row(r) for r in rows)]


def _md_image(alt: Inline, path: str) -> str:
    return f"![{inline_markdown(alt)}]({file_url(path)})"


def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub Markdown (the per-image table cut to its worst rows); data stays text, paths are encoded."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + inline_markdown(block[1]), ""]
        elif kind == "p":
            lines += [inline_markdown(block[1]), ""]
        elif kind == "banner":
            lines += [f"> {inline_markdown(Bold(block[1]))}", ""]
        elif kind == "table":
            lines += [*_md_table(block[1], block[2]), ""]
        elif kind == "figure":
            lines += [_md_image(block[2], block[1]), ""]
            if len(block) > 3 and block[3]:
                links = [Link(label, file_url(path)) for label, path in block[3]]
                lines += [inline_markdown(("Also as ", *_join(links, ", "), ".")), ""]
        elif kind == "gallery":
            for path, caption in block[1]:
                lines += [inline_markdown(Bold(caption)), "", f"[{_md_image(caption, path)}]({file_url(path)})", ""]
        elif kind == "images":
            header, rows, links = block[1], block[2], block[3]
            shown = [[Link(r[0], file_url(link)) if link else r[0], *r[1:]] for r, link in zip(rows, links)]
            lines += _md_table(header, shown[:MARKDOWN_IMAGE_ROWS])
            if len(rows) > MARKDOWN_IMAGE_ROWS:
                lines.append(f"\n({len(rows) - MARKDOWN_IMAGE_ROWS} more in the HTML report, `report --html`.)")
            lines.append("")
        else:
            raise ValueError(f"unknown block {kind!r}")
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- files


def read_sweep(sweep_json: Path) -> dict:
    """The sweep JSON (:mod:`pseudo_labels.formats.sweep_json`), its protocols among those the report shows."""
    return read_sweep_file(sweep_json, tuple(PROTOCOL_TITLE))


def write_report(sweep_json: Path, out: Path, pictures: Path | None = None, html: bool = False,
                 note: str | None = None, formats: Sequence[str] = ("png",), resamples: int = RESAMPLES,
                 seed: int = SEED, relative_to: Path | None = None) -> Path:
    """Render ``sweep_json`` to ``out`` (Markdown; with ``html`` also ``out`` with .html) and its figures beside it.

    ``formats``: the figure files written (png, svg, pdf); ``resamples`` and
    ``seed``: the bootstrap intervals (0 resamples: none); ``relative_to``: the
    dataset root is named relative to this folder (None: as the sweep's manifest names it).
    """
    out = Path(out)
    record = read_sweep(sweep_json)
    index = read_pictures(pictures) if pictures is not None else None
    base = Path(os.path.relpath(Path(pictures).resolve(), out.parent.resolve())).as_posix() if pictures else ""
    intervals = report_intervals.compute(Path(sweep_json), record, resamples, seed)
    blocks, figures = render(record, out.stem, data_origin(Path(sweep_json), record, relative_to), index, base, note, intervals,
                             formats, sources_text(Path(sweep_json), record))
    for name, data in figures.items():
        write_bytes_atomic(out.parent / name, data)
    if html:
        write_text(out.with_suffix(".html"), report_html.to_html(blocks))
    return write_text(out, to_markdown(blocks))
