"""The report of a sweep as blocks, Markdown and (through :mod:`~pseudo_labels.report.html`) HTML, with its figures.

The report says first where the data comes from (synthetic or not, read from
the sweep's manifest and the dataset's ``synthetic_{split}.json`` marker),
then per protocol: the best configuration, the annotated heat map (values,
best and published cells marked, untested cells hatched, CC-only beside),
PQ_things and instances per image against A_min (one line per tau), the
configurations sorted by PQ and the per-class table of the best; per-class PQ
bars of both protocols; with ``--pictures`` (a ``visualize`` output folder) a
gallery of the worst images and a per-image table; the protocol definitions
and the inputs' hashes. Every number comes from the JSON files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.report import figures as figs
from pseudo_labels.report import html as report_html
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_bytes_atomic, write_text
from pseudo_labels.data.synthetic import marker_path
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
SYNTHETIC_BANNER = "SYNTHETIC DATA — not a result on Cityscapes"
GALLERY_SIZE = 8
MARKDOWN_IMAGE_ROWS = 20
"""Per-image rows in the Markdown (worst first); the HTML table holds every image."""
IMAGE_COLUMNS = ("image", "PQ", "PQ_stuff", "PQ_things", "instances", "TP th", "FP th", "FN th", "split th",
                 "merge th", "TP st", "FP st", "FN st")

Block = tuple
"""One piece of the document: ``("h1"|"h2"|"h3"|"p"|"banner", text)``, ``("table", header, rows)``,
``("figure", file, alt)``, ``("gallery", [(file, caption)])``, ``("images", header, rows, links)``.
Text may hold `code`, **bold** and [links](href) (Markdown; the HTML writer converts them)."""


@dataclass(frozen=True)
class Origin:
    """Where the evaluated data comes from: ``synthetic`` True/False, or None when it cannot be told."""

    synthetic: bool | None
    text: str


def data_origin(sweep_json: Path, record: dict) -> Origin:
    """Synthetic or not, from the dataset root named by the sweep's manifest (or its centroid path).

    Synthetic splits carry ``{root}/synthetic_{split}.json`` (written by
    :mod:`pseudo_labels.data.synthetic`); a root without it is taken as real data.
    """
    split = record.get("split", "val")
    candidates: list[Path] = []
    manifest = Path(sweep_json).with_name(f"{Path(sweep_json).stem}.manifest.json")
    try:
        root = json.loads(manifest.read_text())["arguments"]["cityscapes_root"]
        candidates.append(Path(root))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    centroids = record.get("inputs", {}).get("centroids", {}).get("path")
    if centroids:
        candidates.append(Path(centroids).parent.parent)
    for root in candidates:
        for place in (root, Path(sweep_json).parent / root):
            marker = marker_path(place, split)
            if marker.is_file():
                try:
                    info = json.loads(marker.read_text())
                except ValueError:
                    info = {}
                return Origin(True, f"{SYNTHETIC_BANNER}. The {split} images under `{place}` are synthetic street "
                                    f"scenes drawn by `pseudo-labels synthetic` ({info.get('num_images', '?')} images, "
                                    f"seed {info.get('seed', '?')}, marker `{marker.name}`); these numbers say nothing "
                                    f"about Cityscapes.")
            if (place / "leftImg8bit" / split).is_dir():
                return Origin(False, f"Data: the {split} images under `{place}` (no synthetic marker "
                                     f"`{marker.name}` there).")
    return Origin(None, "Data origin unknown: the sweep's manifest and centroid path lead to no dataset root on this "
                        "machine, so it cannot be told whether the data was synthetic.")


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


def _number(value: float | int | None, digits: int = 1) -> str:
    return "n/a" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def image_rows(images: Sequence[dict], base: str) -> tuple[list[list[str]], list[str | None]]:
    """Per-image table rows (worst first) and the picture each links (``base`` + file, or None)."""
    rows, links = [], []
    for e in worst_images(images):
        things, stuff = e.get("things", {}), e.get("stuff", {})
        rows.append([e["stem"], _number(e.get("PQ")), _number(e.get("PQ_stuff")), _number(e.get("PQ_things")),
                     str(e["instances"]), *(_number(things.get(k)) for k in ("TP", "FP", "FN", "split", "merge")),
                     *(_number(stuff.get(k)) for k in ("TP", "FP", "FN"))])
        links.append(f"{base}/{e['picture']}" if e.get("picture") else None)
    return rows, links


def picture_blocks(index: dict, base: str, record: dict) -> list[Block]:
    """Gallery of the worst drawn images and the per-image table."""
    kind = "class-agnostic PQ_things (label-free labels)" if index.get("label_free") else "PQ_things"
    blocks: list[Block] = [("h2", "Worst images"), (
        "p", f"Pictures by `visualize` ({index['protocol']} protocol, {SplitSettings.from_record(index).describe()}, "
             f"selection `{index['select']}`, labels `{index['units']}`), sorted by per-image "
             f"{kind}, worst first. Panels: input, depth edges, semantic pseudo-labels, ground truth, predicted and GT "
             f"instances, errors of things and of stuff (TP green, FP yellow, FN red hatched, split orange, merge "
             f"purple, ignored grey).")]
    if (index.get("split"), index.get("semantic_subdir")) != (record.get("split"), record.get("semantic_subdir")):
        blocks.append(("p", f"**Note:** the pictures show `{index.get('semantic_subdir')}` ({index.get('split')}), "
                            f"the sweep `{record.get('semantic_subdir')}` ({record.get('split')})."))
    drawn = [e for e in worst_images(index["images"]) if e.get("picture")][:GALLERY_SIZE]
    gallery = []
    for e in drawn:
        th = e.get("things", {})
        gallery.append((f"{base}/{e['picture']}", f"{e['stem']}: PQ_things {_number(e.get('PQ_things'))}, "
                                                  f"TP {th.get('TP', 'n/a')}, FP {th.get('FP', 'n/a')}, "
                                                  f"FN {th.get('FN', 'n/a')}, split {th.get('split', 'n/a')}"))
    blocks.append(("gallery", gallery) if gallery else ("p", "No picture was drawn."))
    rows, links = image_rows(index["images"], base)
    blocks += [("h2", "Per image"), ("p", f"{len(rows)} images scored by `visualize`, worst {kind} first "
                                          f"(th: things, st: stuff; split/merge count GT objects and predictions)."),
               ("images", list(IMAGE_COLUMNS), rows, links)]
    return blocks


# --------------------------------------------------------------------------- the document


def _label(entry: dict) -> str:
    return "CC-only" if entry["mode"] == "cc_only" else f"{entry['grad_threshold']:.2f} / {entry['min_area']}"


def _num(value: float | None) -> str:
    """Two decimals; "n/a" where a protocol has no value (no class counted)."""
    return "n/a" if value is None else f"{value:.2f}"


def summary_table(entries: Sequence[dict]) -> Block:
    """The configurations, best PQ first (ties keep the grid order)."""
    rows = [[_label(e), f"{e['avg_instances']:.1f}", _num(e["PQ"]), _num(e["PQ_stuff"]), _num(e["PQ_things"]),
             _num(e["SQ"]), _num(e["RQ"])] for e in sorted(entries, key=lambda e: -e["PQ"])]
    return ("table", ["tau / A_min", "inst/img", "PQ", "PQ_stuff", "PQ_things", "SQ", "RQ"], rows)


def class_table(entry: dict) -> Block:
    rows = [[name, "thing" if v["thing"] else "stuff", f"{v['PQ']:.2f}", f"{v['SQ']:.2f}", f"{v['RQ']:.2f}",
             str(v["TP"]), str(v["FP"]), str(v["FN"])] for name, v in entry["per_class"].items() if v["evaluated"]]
    return ("table", ["class", "kind", "PQ", "SQ", "RQ", "TP", "FP", "FN"], rows)


def cups_text(best: dict) -> str:
    """What the CUPS protocol's best row rests on: its threshold, split and the absent classes it still scores."""
    source = "the midpoint of the interval that gives the centroid file's thing clusters" \
        if best.get("threshold_source") == "suggested" else "given"
    text = (f"Thing/stuff threshold {best['thing_stuff_threshold']:.6g} ({source}): {len(best['things'])} thing and "
            f"{len(best['stuffs'])} stuff pseudo-classes; mIoU {_num(best.get('mIoU'))}, accuracy "
            f"{_num(best.get('accuracy'))}.")
    forced = best.get("forced_onto_absent", {}).get("pq", {})
    if forced:
        text += (" Classes absent from this split's GT that the matching still gives pseudo-classes (they count with "
                 "PQ 0, as in CUPS): " + ", ".join(f"{name} <- {ids}" for name, ids in forced.items()) + ".")
    return text


def _published_text(entries: Sequence[dict]) -> str:
    published = [e for e in figs.depth_entries(entries)
                 if (round(e["grad_threshold"], 6), e["min_area"]) == figs.PUBLISHED]
    if not published:
        return f"The published setting {figs.PUBLISHED_TEXT} is not in this grid."
    e = published[0]
    return f"Published setting ({figs.PUBLISHED[0]:.2f} / {figs.PUBLISHED[1]}): PQ {_num(e['PQ'])}, PQ_things {_num(e['PQ_things'])}."


def render(record: dict, figure_prefix: str, origin: Origin | None = None, pictures: dict | None = None,
           pictures_base: str = "", note: str | None = None) -> tuple[list[Block], dict[str, bytes]]:
    """The document's blocks and ``{file name: PNG bytes}`` of the figures it shows."""
    origin = origin or Origin(None, "Data origin unknown.")
    title = f"Parameter sweep: k={record['k']}, {record['split']} split"
    blocks: list[Block] = [("h1", title + (" (synthetic data)" if origin.synthetic else ""))]
    blocks.append(("banner", origin.text) if origin.synthetic else ("p", f"**{origin.text}**"))
    if note:
        blocks.append(("p", note))
    blocks.append(("p", f"Generated by `python -m pseudo_labels report` from the sweep JSON. k = {record['k']} "
                        f"clusters, {record['n_images']} images, eval size {record['eval_resolution'][0]}x"
                        f"{record['eval_resolution'][1]}, semantics `{record.get('semantic_subdir')}`, depth "
                        f"`{record['depth_subdir']}`, blur sigma {record['depth_blur_sigma']}, dilation "
                        f"{record['dilation_iters']}."))
    figures: dict[str, bytes] = {}
    for protocol in record["protocols"]:
        every = [e for e in record["results"] if e["protocol"] == protocol]
        entries = [e for e in every if e["PQ"] is not None]  # the CUPS protocol may leave a configuration unscored
        if not entries:
            blocks += [("h2", f"{PROTOCOL_TITLE[protocol]} protocol"), ("p", PROTOCOL_TEXT[protocol]),
                       ("p", f"No configuration could be scored: {every[0].get('error', 'no result')}.")]
            continue
        best = record["best"][protocol]
        heat, lines = f"{figure_prefix}_{protocol}_heatmap.png", f"{figure_prefix}_{protocol}_amin.png"
        figures[heat] = figs.heatmap_png(entries, protocol)
        figures[lines] = figs.area_lines_png(entries, protocol)
        cc = figs.cc_entry(entries)
        cc_text = f" CC-only (no depth): PQ {_num(cc['PQ'])}, PQ_things {_num(cc['PQ_things'])}." if cc else ""
        blocks += [("h2", f"{PROTOCOL_TITLE[protocol]} protocol"), ("p", PROTOCOL_TEXT[protocol]),
                   ("p", f"Best: tau / A_min = {_label(best)}: PQ {_num(best['PQ'])}, PQ_stuff {_num(best['PQ_stuff'])}, "
                         f"PQ_things {_num(best['PQ_things'])}, SQ {_num(best['SQ'])}, RQ {_num(best['RQ'])}. "
                         f"{_published_text(entries)}{cc_text}")]
        if len(entries) < len(every):
            blocks.append(("p", f"{len(every) - len(entries)} configuration(s) not scored "
                                f"({next(e for e in every if e['PQ'] is None).get('error')})."))
        if protocol == "cups":
            blocks.append(("p", cups_text(best)))
        blocks += [
                   ("figure", heat, f"PQ and PQ_things over (tau, A_min), {protocol} protocol"),
                   ("p", f"Values in the cells; red box: best PQ; white dashed box: the published {figs.PUBLISHED_TEXT}; "
                         "hatched: not run; CC-only (connected components, no depth) beside each grid."),
                   ("figure", lines, f"PQ_things and instances per image against A_min, {protocol} protocol")]
        if len({e["PQ_stuff"] for e in entries}) == 1:
            blocks.append(("p", f"PQ_stuff is {entries[0]['PQ_stuff']:.2f} for every configuration: tau and A_min "
                                f"change only the thing instances."))
        blocks += [summary_table(entries), ("h3", f"Per class, best configuration ({_label(best)})"), class_table(best)]
    per_class = f"{figure_prefix}_per_class.png"
    figures[per_class] = figs.per_class_png({p: record["best"][p] for p in record["protocols"]})
    blocks += [("h2", "Per-class PQ"), ("figure", per_class, "Per-class PQ of each protocol's best configuration")]
    if pictures is not None:
        blocks += picture_blocks(pictures, pictures_base, record)
    else:
        blocks += [("h2", "Worst images"), ("p", "No pictures given: run `python -m pseudo_labels visualize ... "
                                                 "--select worst --out DIR`, then `report ... --pictures DIR`.")]
    rows = [[name, str(value.get("count", 1)), f"`{value['sha256']}`"] for name, value in record.get("inputs", {}).items()]
    blocks += [("h2", "Inputs"), ("table", ["input", "files", "sha256"], rows)]
    return blocks, figures


# --------------------------------------------------------------------------- Markdown


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def to_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as GitHub Markdown (the per-image table cut to its worst rows)."""
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "banner":
            lines += [f"> **{block[1]}**", ""]
        elif kind == "table":
            lines += [_md_row(block[1]), _md_row(["---"] * len(block[1])), *(_md_row(r) for r in block[2]), ""]
        elif kind == "figure":
            lines += [f"![{block[2]}]({block[1]})", ""]
        elif kind == "gallery":
            for path, caption in block[1]:
                lines += [f"**{caption}**", "", f"[![{caption}]({path})]({path})", ""]
        elif kind == "images":
            header, rows, links = block[1], block[2], block[3]
            shown = [[f"[{r[0]}]({link})" if link else r[0], *r[1:]] for r, link in zip(rows, links)]
            lines += [_md_row(header), _md_row(["---"] * len(header)), *(_md_row(r) for r in shown[:MARKDOWN_IMAGE_ROWS])]
            if len(rows) > MARKDOWN_IMAGE_ROWS:
                lines.append(f"\n({len(rows) - MARKDOWN_IMAGE_ROWS} more in the HTML report, `report --html`.)")
            lines.append("")
        else:
            raise ValueError(f"unknown block {kind!r}")
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- files


def read_sweep(sweep_json: Path) -> dict:
    """The sweep JSON; a missing, unreadable or foreign file is an InputError naming it."""
    try:
        record = json.loads(Path(sweep_json).read_text())
    except FileNotFoundError:
        raise InputError(f"{sweep_json}: sweep JSON not found.") from None
    except ValueError as exc:
        raise InputError(f"{sweep_json}: not JSON ({exc}).") from None
    if not isinstance(record, dict) or "results" not in record or "best" not in record:
        raise InputError(f"{sweep_json}: not a sweep result of this toolkit (no 'results'/'best'); re-run the sweep.")
    return record


def write_report(sweep_json: Path, out: Path, pictures: Path | None = None, html: bool = False,
                 note: str | None = None) -> Path:
    """Render ``sweep_json`` to ``out`` (Markdown; with ``html`` also ``out`` with .html) and its figures beside it."""
    out = Path(out)
    record = read_sweep(sweep_json)
    index = read_pictures(pictures) if pictures is not None else None
    base = Path(os.path.relpath(Path(pictures).resolve(), out.parent.resolve())).as_posix() if pictures else ""
    blocks, figures = render(record, out.stem, data_origin(Path(sweep_json), record), index, base, note)
    for name, data in figures.items():
        write_bytes_atomic(out.parent / name, data)
    if html:
        write_text(out.with_suffix(".html"), report_html.to_html(blocks))
    return write_text(out, to_markdown(blocks))
