"""Drawing primitives of the pictures: overlays, outlines, hatching, text, panels and the legend.

Arrays in, arrays out (HxWx3 uint8 RGB); what is drawn is decided elsewhere
(:mod:`pseudo_labels.evaluation.segment_errors` decides the statuses, :mod:`pseudo_labels.report.pictures`
what goes in which panel). Text uses matplotlib's bundled DejaVu Sans, so
pictures look the same on every machine; sizes are chosen to stay legible when
the picture is shown at half size.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.evaluation import segment_errors as se
from pseudo_labels.report.colour import OKABE_ITO

TITLE_PX = 30
"""Title text height in pixels at the picture's native size (15 px at half size)."""
DETAIL_PX = 24
"""Second title line and legend text."""
LABEL_PX = 20
"""Class names written on the instances."""

STATUS_COLOURS = {
    se.TP: OKABE_ITO["bluish green"],
    se.FP: OKABE_ITO["sky blue"],
    se.FN: OKABE_ITO["vermillion"],
    se.SPLIT: OKABE_ITO["yellow"],
    se.MERGE: (255, 255, 255),
    se.IGNORED: OKABE_ITO["blue"],
}
"""Okabe-Ito colours (and white), chosen so that every pair stays apart, also as fills over the dimmed image and
under a missed object's hatching, with and without colour-vision deficiencies (tests/report/test_legibility.py)."""
STATUS_NAMES = {se.TP: "green", se.FP: "sky blue", se.FN: "vermillion", se.SPLIT: "yellow", se.MERGE: "white",
                se.IGNORED: "blue"}
"""How the texts name the status colours."""
STATUS_MEANING = {
    se.TP: "TP (matched)",
    se.FP: "FP (false prediction)",
    se.FN: "FN (missed, hatched)",
    se.SPLIT: "split (object cut in pieces)",
    se.MERGE: "merge (objects joined)",
    se.IGNORED: "ignored (void / crowd)",
}
FILL_ALPHA = 0.75
"""Opacity of the status fills over the dimmed image."""
HATCH_PERIOD = 8
HATCH_WIDTH = 2


@functools.lru_cache(maxsize=8)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans at ``size`` px (matplotlib's copy), else Pillow's scalable default."""
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    try:
        return ImageFont.truetype(str(path), size)
    except OSError:
        return ImageFont.load_default(size)


def outline(ids: np.ndarray, width: int = 1) -> np.ndarray:
    """HxW bool: pixels whose 4-neighbourhood holds another id, thickened to ``width`` px (inwards and out)."""
    cross = ndimage.generate_binary_structure(2, 1)
    edge = ids != ndimage.grey_erosion(ids, footprint=cross, mode="nearest")
    edge |= ids != ndimage.grey_dilation(ids, footprint=cross, mode="nearest")
    return ndimage.binary_dilation(edge, cross, iterations=width - 1) if width > 1 else edge


def hatch(shape: tuple[int, int], period: int = HATCH_PERIOD, width: int = HATCH_WIDTH) -> np.ndarray:
    """HxW bool diagonal stripes (``width`` px every ``period`` px)."""
    rows, cols = np.indices(shape)
    return (rows + cols) % period < width


def blend(base: np.ndarray, colours: np.ndarray, mask: np.ndarray, alpha: float) -> np.ndarray:
    """``base`` with ``colours`` (HxWx3 or one RGB triple) mixed in at ``alpha`` where ``mask``."""
    mixed = base.astype(np.float32) * (1 - alpha) + np.broadcast_to(colours, base.shape).astype(np.float32) * alpha
    return np.where(mask[:, :, None], np.rint(mixed), base).astype(np.uint8)


def dimmed(rgb: np.ndarray, factor: float = 0.55) -> np.ndarray:
    """Grey, darkened copy of an RGB image: a background that lets status colours stand out."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.repeat(np.rint(grey * factor)[:, :, None], 3, axis=2).astype(np.uint8)


def random_colours(count: int, seed: int = 0) -> np.ndarray:
    """(count + 1, 3) uint8 bright colours, index 0 black."""
    colours = np.random.default_rng(seed).integers(60, 256, (count + 1, 3)).astype(np.uint8)
    colours[0] = 0
    return colours


def centres(ids: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per id 1..count: area, and the (row, col) of the segment's pixel nearest its centroid (a point inside it)."""
    flat = ids.ravel().astype(np.int64)
    area = np.bincount(flat, minlength=count + 1)[: count + 1]
    rows, cols = np.divmod(np.arange(flat.size), ids.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_r = np.bincount(flat, rows, minlength=count + 1)[: count + 1] / area
        mean_c = np.bincount(flat, cols, minlength=count + 1)[: count + 1] / area
    # the member pixel closest to the centroid: one argmin per id over a sort by (id, distance)
    distance = (rows - mean_r[flat]) ** 2 + (cols - mean_c[flat]) ** 2
    order = np.lexsort((distance, flat))
    first = np.searchsorted(flat[order], np.arange(count + 1))
    pick = order[np.minimum(first, flat.size - 1)]
    return area, rows[pick], cols[pick]


def write_labels(rgb: np.ndarray, labels: Sequence[tuple[int, int, str]], size: int = LABEL_PX) -> np.ndarray:
    """``rgb`` with each ``(row, col, text)`` written centred there, white on a dark box.

    Labels are placed in the order given; one whose box would overlap an
    earlier one is left out, so names stay readable in crowded scenes.
    """
    if not labels:
        return rgb
    image = Image.fromarray(rgb)
    draw = ImageDraw.Draw(image, "RGBA")
    face = font(size)
    placed: list[tuple[int, int, int, int]] = []
    for row, col, text in labels:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
        x = int(np.clip(col - (right - left) / 2, 0, max(rgb.shape[1] - (right - left) - 2, 0)))
        y = int(np.clip(row - (bottom - top) / 2, 0, max(rgb.shape[0] - (bottom - top) - 2, 0)))
        box = (x - 2, y - 1 + top, x + right - left + 2, y + bottom + 1)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        draw.rectangle(box, fill=(0, 0, 0, 170))
        draw.text((x - left, y), text, fill=(255, 255, 255), font=face)
    return np.asarray(image)


def segment_overlay(rgb: np.ndarray, ids: np.ndarray, fill: np.ndarray, shown: np.ndarray, names: Sequence[str],
                    min_label_area: int, max_labels: int = 40) -> np.ndarray:
    """Segments tinted with ``fill[id]`` and outlined in white over ``rgb`` (same size), labelled by ``names[id]``.

    Only ids with ``shown[id]`` are drawn; a name is written on the
    ``max_labels`` largest shown segments of >= ``min_label_area`` px.
    """
    visible = shown[ids]
    out = blend(rgb, fill[ids], visible, 0.45)
    out[outline(np.where(visible, ids, 0)) & visible] = 255
    area, rows, cols = centres(np.where(visible, ids, 0), len(shown) - 1)
    candidates = [i for i in np.argsort(-area, kind="stable") if i > 0 and shown[i] and area[i] >= min_label_area]
    labels = [(int(rows[i]), int(cols[i]), names[i]) for i in candidates[:max_labels]]
    return write_labels(out, labels)


def error_overlay(base: np.ndarray, gt_ids: np.ndarray, pred_ids: np.ndarray, errors: se.SegmentErrors,
                  gt_shown: np.ndarray, pred_shown: np.ndarray) -> np.ndarray:
    """Statuses over ``base`` (all at one size): predictions filled by their status, GT outlined by theirs.

    A missed (FN), split or merged GT segment is also hatched in its colour, so
    it stays visible under the predictions that cover it; predictions are
    never painted over by GT, so false positives and split pieces show.
    """
    colours = np.zeros((256, 3), np.uint8)
    for status, colour in STATUS_COLOURS.items():
        colours[status] = colour
    pred_status = np.where(pred_shown, errors.pred, se.VOID)[pred_ids]
    out = blend(base, colours[pred_status], pred_status > 0, FILL_ALPHA)
    gt_status = np.where(gt_shown, errors.gt, se.VOID)[gt_ids]
    missed = np.isin(gt_status, (se.FN, se.SPLIT, se.MERGE)) & hatch(gt_ids.shape)
    out[missed] = colours[gt_status[missed]]
    edge = outline(np.where(gt_status > 0, gt_ids, 0), 2) & (gt_status > 0)
    out[edge] = colours[gt_status[edge]]
    return out


def titled(panel: np.ndarray, title: str, detail: str = "", bar: int = 0) -> np.ndarray:
    """``panel`` under a black bar of height ``bar`` holding a title line and an optional detail line."""
    canvas = Image.new("RGB", (panel.shape[1], panel.shape[0] + bar), (0, 0, 0))
    canvas.paste(Image.fromarray(panel), (0, bar))
    draw = ImageDraw.Draw(canvas)
    draw.text((8, 2), title, fill=(255, 255, 255), font=font(TITLE_PX))
    if detail:
        draw.text((8, 4 + TITLE_PX), detail, fill=(210, 210, 210), font=font(DETAIL_PX))
    return np.asarray(canvas)


def message_panel(shape: tuple[int, int], text: str) -> np.ndarray:
    """A dark panel saying why it is empty."""
    panel = np.full(shape + (3,), 30, np.uint8)
    return write_labels(panel, [(shape[0] // 2, shape[1] // 2, text)], DETAIL_PX)


def legend(width: int, entries: Sequence[tuple[tuple[int, int, int], str]], heading: str,
           size: int = DETAIL_PX) -> np.ndarray:
    """A black strip ``width`` wide: ``heading``, then a swatch and a name per entry, wrapped into rows."""
    face = font(size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line = size + 12
    placed, x, y = [], 8 + int(measure.textlength(heading + "  ", font=face)), 6
    for colour, name in entries:
        step = size + 8 + int(measure.textlength(name, font=face)) + 24
        if x + step > width and x > 8:
            x, y = 8, y + line
        placed.append((x, y, colour, name))
        x += step
    image = Image.new("RGB", (width, y + line + 4), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.text((8, 6), heading, fill=(255, 255, 255), font=face)
    for x, y, colour, name in placed:
        draw.rectangle((x, y + 2, x + size, y + size + 2), fill=tuple(int(c) for c in colour), outline=(255, 255, 255))
        draw.text((x + size + 8, y), name, fill=(255, 255, 255), font=face)
    return np.asarray(image)


def class_entries(classes: Sequence[int], space: cs.ClassSpace) -> list[tuple[tuple[int, int, int], str]]:
    """Legend entries (palette colour, name) of the classes of ``space`` among ``classes``, in id order."""
    return [(space.colors[c], space.names[c]) for c in sorted({int(c) for c in classes}) if c < len(space.names)]


def status_text() -> str:
    """The status colours in words, for captions: "TP green, FP sky blue, FN vermillion hatched, ..."."""
    return ", ".join(f"{STATUS_MEANING[s].split(' (')[0]} {STATUS_NAMES[s]}" + (" hatched" if s == se.FN else "")
                     for s in STATUS_COLOURS)


def status_entries() -> list[tuple[tuple[int, int, int], str]]:
    """Legend entries of the error statuses."""
    return [(STATUS_COLOURS[s], STATUS_MEANING[s]) for s in STATUS_COLOURS]


def grid(panels: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Panels of one size, row by row."""
    rows = [np.concatenate(panels[i:i + columns], axis=1) for i in range(0, len(panels), columns)]
    return np.concatenate(rows, axis=0)
