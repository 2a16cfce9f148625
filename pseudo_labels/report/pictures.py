"""One image's pictures: the instances as the export makes them, the protocol's errors, and the eight panels.

:func:`analyse` splits and scores one image with the run's :class:`Settings`
(units, split settings, protocol); :func:`picture` draws input, depth edges,
semantics, GT, predicted and GT instances and the error panels of things and
stuff. The panel layout and the colours are described for users in
:mod:`pseudo_labels.cli.visualize`; :mod:`pseudo_labels.evaluation.segment_errors`
decides the statuses.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.report import drawing as dr
from pseudo_labels.evaluation import cups_protocol as cp
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation import segment_errors as se
from pseudo_labels.instances.painting import paint_instances
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.units import Units
from pseudo_labels.instances.splitting import Instances, depth_gradient, split

log = logging.getLogger("visualize")

PANEL = (384, 768)
"""(H, W) of each panel."""
LABEL_BAR = dr.TITLE_PX + dr.DETAIL_PX + 12
"""Height of the title bar above each panel."""
COLUMNS = 2
MIN_LABEL_AREA = 250
"""Smallest segment (pixels at the panel size) that gets its class name written on it."""
INDEX_NAME = "index.json"
SELECTIONS = ("first", "worst", "random")


@dataclass(frozen=True)
class Settings:
    """What every picture of a run shares."""

    units: Units
    split: SplitSettings
    protocol: str
    cups_classes: np.ndarray | None = None
    """CUPS protocol: the (K,) class 0..26 of each raw pseudo-class (an ``assignment_pq``)."""

    @property
    def label_free(self) -> bool:
        return self.units.merged


@dataclass(frozen=True)
class Analysis:
    """One image's pseudo-labels at the working size and, with GT, their evaluation.

    ``raw``: the semantic ids as read (trainIds or cluster ids); ``units``: the
    map the split ran on; ``instances``: named by trainId (or, label-free, by
    majority cluster); ``pred``: the protocol's prediction (label-free: class-agnostic
    things only); ``names``: a name per prediction id; ``gt``: the protocol's GT
    segments with their classes (label-free labels are matched to a class-agnostic copy).
    """

    raw: np.ndarray
    units: np.ndarray
    gradient: np.ndarray
    instances: Instances
    pred: pan.Segments
    names: list[str]
    gt: pan.Segments | None = None
    errors: se.SegmentErrors | None = None
    scores: dict[str, float] | None = None


def analyse(raw: np.ndarray, depth: np.ndarray, settings: Settings, gt_train: np.ndarray | None = None,
            gt_instance: np.ndarray | None = None) -> Analysis:
    """Instances exactly as the export makes them, the protocol's prediction and, with GT, its errors and PQ.

    ``raw`` and ``depth`` at the working size (512x1024), GT at its own size.
    """
    units = settings.units.unit_map(raw)
    gradient = depth_gradient(depth, settings.split.sigma)
    found = settings.units.named(split(units, settings.units.things, depth, settings.split, gradient), raw)
    if settings.protocol == cp.CUPS:
        return _cups_analysis(raw, units, gradient, found, settings, gt_instance)
    if settings.label_free:
        pred = se.label_free_prediction(raw.shape, found, settings.protocol)
        _, painted = paint_instances(found, pan.area_rule(settings.protocol)[1])
        names = [""] + [f"cluster {c}" for c in found.classes[painted]]  # no stuff: ids are the painted instances
    else:
        pred = se.prediction(units, found, settings.protocol)
        names = ["void"] + [cs.CLASS_NAMES[c] for c in pred.classes[1:]]
    analysis = Analysis(raw, units, gradient, found, pred, names)
    if gt_train is None or gt_instance is None:
        return analysis
    gt = se.ground_truth(gt_train, gt_instance, settings.protocol, raw.shape)
    matched_against = se.class_agnostic(gt) if settings.label_free else gt  # same ids, so statuses index gt too
    errors = se.classify(matched_against, pred, settings.protocol)
    scores = se.image_scores(matched_against, pred, settings.protocol)
    if settings.label_free:  # no stuff class is known: only the class-agnostic PQ_things means something
        scores = {"PQ": math.nan, "PQ_stuff": math.nan, "PQ_things": scores["PQ_things"]}
    return Analysis(raw, units, gradient, found, pred, names, gt, errors, scores)


def _cups_analysis(raw: np.ndarray, units: np.ndarray, gradient: np.ndarray, found: Instances, settings: Settings,
                   gt_instance: np.ndarray | None) -> Analysis:
    """The CUPS protocol's view: the exported labels named by the assignment, against CUPS' 27-class GT."""
    if settings.cups_classes is None:
        raise ValueError("the CUPS protocol needs the assignment of a CUPS evaluation (Settings.cups_classes)")
    lookup = cp.class_lookup(settings.cups_classes)
    pred = se.cups_prediction(raw, found, lookup, len(settings.cups_classes))
    names = [pred.name(i) for i in range(pred.count + 1)]
    if gt_instance is None:
        return Analysis(raw, units, gradient, found, pred, names)
    gt = se.cups_ground_truth(gt_instance, raw.shape, "the gtFine instanceIds")
    errors = se.classify(gt, pred, cp.CUPS)
    return Analysis(raw, units, gradient, found, pred, names, gt, errors, se.image_scores(gt, pred, cp.CUPS))


# --------------------------------------------------------------------------- panels


def _resized(array: np.ndarray) -> np.ndarray:
    return cs.resize_nearest(array, PANEL)


def semantic_panel(analysis: Analysis, settings: Settings) -> np.ndarray:
    """Palette colours of the trainIds; label-free: a colour per cluster, thing clusters outlined white."""
    if not settings.label_free:
        return cs.colorize(_resized(analysis.units))
    raw = _resized(analysis.raw)
    rgb = dr.random_colours(255, seed=1)[raw]
    things = np.isin(raw, settings.units.thing_clusters)
    rgb[dr.outline(things.astype(np.int32), 2)] = 255
    return rgb


def instance_panel(rgb: np.ndarray, segments: pan.Segments, names: Sequence[str]) -> np.ndarray:
    """Thing segments (crowd too) tinted and outlined over the image, with their names."""
    ids = _resized(segments.ids)
    shown = segments.is_thing.copy()
    shown[0] = False
    return dr.segment_overlay(rgb, ids, dr.random_colours(segments.count), shown, names, MIN_LABEL_AREA)


def error_panel(rgb: np.ndarray, analysis: Analysis, things: bool) -> np.ndarray:
    """Statuses of the thing (or stuff) segments over the dimmed image."""
    assert analysis.gt is not None and analysis.errors is not None
    gt, pred = analysis.gt, analysis.pred
    gt_shown = gt.is_thing == things
    pred_shown = pred.is_thing == things
    gt_shown[0] = pred_shown[0] = False
    return dr.error_overlay(dr.dimmed(rgb), _resized(gt.ids), _resized(pred.ids), analysis.errors, gt_shown, pred_shown)


def _counts_text(counts: dict[str, int], score: float, what: str) -> str:
    shown = "  ".join(f"{name} {n}" for name, n in counts.items() if n or name in ("TP", "FP", "FN"))
    return f"{shown}   {what} " + ("n/a" if math.isnan(score) else f"{score:.1f}")


def picture(rgb: np.ndarray, depth: np.ndarray, analysis: Analysis, settings: Settings, title: str = "") -> np.ndarray:
    """The eight-panel picture of one image, with legends (``rgb`` at any size, the rest at the working size)."""
    image = np.asarray(Image.fromarray(rgb).resize(PANEL[::-1], Image.BILINEAR))
    tau = settings.split.tau
    edges = _resized(analysis.gradient > tau) if tau is not None else np.zeros(PANEL, bool)
    depth_rgb = np.repeat((np.clip(_resized(depth.astype(np.float32)), 0, 1) * 255).astype(np.uint8)[:, :, None], 3, 2)
    depth_rgb[edges] = (255, 0, 0)
    n_things = int(analysis.pred.is_thing[1:].sum())
    kind = "label-free clusters" if settings.label_free else "trainIds"
    panels = [dr.titled(image, "input", title, LABEL_BAR),
              dr.titled(depth_rgb, f"depth, edges at tau {tau:.2f}" if tau is not None else "depth (not used: CC-only)",
                        "red: Sobel of blurred depth > tau", LABEL_BAR),
              dr.titled(semantic_panel(analysis, settings), "semantic pseudo-labels",
                        f"{kind}: {Path(settings.units.source.split(': ')[-1]).name}", LABEL_BAR),
              None,
              dr.titled(instance_panel(image, analysis.pred, analysis.names), f"predicted instances: {n_things}",
                        f"{settings.split.describe()}, {settings.protocol} painting", LABEL_BAR),
              None, None, None]
    gt = analysis.gt
    legend_classes = [int(c) for c in np.unique(analysis.units) if c < cs.NUM_CLASSES] if not settings.label_free else []
    if gt is None or analysis.errors is None or analysis.scores is None:
        empty = dr.message_panel(PANEL, "no ground truth for this image")
        panels[3] = dr.titled(empty, "ground truth", "", LABEL_BAR)
        panels[5] = dr.titled(empty, "GT instances", "", LABEL_BAR)
        panels[6] = dr.titled(empty, "errors, things", "", LABEL_BAR)
        panels[7] = dr.titled(empty, "errors, stuff", "", LABEL_BAR)
    else:
        gt_semantic = np.where(gt.ids > 0, gt.classes[gt.ids], cs.IGNORE_ID).astype(np.uint8)
        gt_names = [gt.name(i) for i in range(gt.count + 1)]
        n_gt_things = int((gt.is_thing[1:] & ~gt.crowd[1:]).sum())
        where = {pan.REFERENCE: "at the eval size", pan.OFFICIAL: "full resolution, crowd included",
                 cp.CUPS: "27 classes at the eval size, crowd as segments"}[settings.protocol]
        panels[3] = dr.titled(gt.space.colorize(_resized(gt_semantic)), "ground truth (gtFine)", "void black", LABEL_BAR)
        panels[5] = dr.titled(instance_panel(image, gt, gt_names), f"GT instances: {n_gt_things}",
                              f"{settings.protocol} protocol, {where}", LABEL_BAR)
        agnostic = ", class-agnostic" if settings.label_free else ""
        panels[6] = dr.titled(error_panel(image, analysis, True), f"errors, things ({settings.protocol}{agnostic})",
                              _counts_text(analysis.errors.counts(gt, analysis.pred, True),
                                           analysis.scores["PQ_things"], "PQ_th"), LABEL_BAR)
        if settings.label_free:
            panels[7] = dr.titled(dr.message_panel(PANEL, "label-free labels name no stuff class"),
                                  "errors, stuff", "", LABEL_BAR)
        else:
            panels[7] = dr.titled(error_panel(image, analysis, False), f"errors, stuff ({settings.protocol})",
                                  _counts_text(analysis.errors.counts(gt, analysis.pred, False),
                                               analysis.scores["PQ_stuff"], "PQ_st"), LABEL_BAR)
    gt_space = gt.space if gt is not None else cs.TRAIN_ID_CLASSES
    if gt is not None and gt_space == cs.TRAIN_ID_CLASSES:
        legend_classes += [int(c) for c in gt.classes[1:]]
    width = COLUMNS * PANEL[1]
    legends = [dr.legend(width, dr.status_entries(), "errors:")]
    if gt is not None and gt_space != cs.TRAIN_ID_CLASSES:  # CUPS' 27 classes: a legend of their own
        legends.insert(0, dr.legend(width, dr.class_entries(gt.classes[1:], gt_space), "GT classes (27):"))
    if legend_classes:
        legends.insert(0, dr.legend(width, dr.class_entries(legend_classes, cs.TRAIN_ID_CLASSES), "classes:"))
    return np.concatenate([dr.grid(panels, COLUMNS), *legends], axis=0)


# --------------------------------------------------------------------------- selection


def select_keys(keys: Sequence[str], how: str, limit: int, scores: dict[str, float] | None = None,
                seed: int = 0) -> list[str]:
    """``limit`` keys: the first ones, the worst by ``scores`` (NaN last), or a seeded random draw (kept in order)."""
    if how == "first":
        return list(keys[:limit])
    if how == "random":
        chosen = np.random.default_rng(seed).choice(len(keys), size=min(limit, len(keys)), replace=False)
        return [keys[i] for i in sorted(chosen)]
    if how == "worst":
        if scores is None:
            raise ValueError("worst needs per-image scores")
        return se.worst_first(scores)[:limit]
    raise ValueError(f"unknown selection {how!r}; use one of {SELECTIONS}")


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 4)


def index_entry(key: str, analysis: Analysis, picture_name: str | None) -> dict:
    """One row of ``index.json``: the image's scores and error counts (None where there is nothing to score)."""
    entry: dict = {"key": key, "stem": key.split("/")[1], "picture": picture_name,
                   "instances": int(analysis.pred.is_thing[1:].sum())}
    if analysis.scores is not None and analysis.errors is not None and analysis.gt is not None:
        entry.update({name: _finite(value) for name, value in analysis.scores.items()})
        for kind, things in (("things", True), ("stuff", False)):
            if things or not math.isnan(analysis.scores["PQ_stuff"]):
                entry[kind] = analysis.errors.counts(analysis.gt, analysis.pred, things)
    return entry
