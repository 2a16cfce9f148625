"""Side-by-side pictures of the pseudo-labels of a few images, for people to look at.

    python -m pseudo_labels visualize --cityscapes_root R --split val --semantic_subdir pseudo_semantic_raw_k80 --out DIR

Per image, one PNG of six panels at the sweep's working size (512x1024):
input | semantic pseudo-labels (Cityscapes palette) | depth with its edges at tau (red)
instances (random colours, white outlines) | ground truth, when present | errors against it
(reference protocol: green = matched thing segment, red = missed GT thing (FN),
yellow = unmatched predicted thing (FP), grey = the rest).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from pseudo_labels import cityscapes as cs
from pseudo_labels import export
from pseudo_labels import instances as inst
from pseudo_labels import panoptic as pan
from pseudo_labels.errors import InputError, exit_on_input_error
from pseudo_labels.fileio import write_png
from pseudo_labels.sweep import load_cluster_to_class, load_depth

PANEL = (256, 512)  # (H, W) of each panel
LABEL_BAR = 18


def random_colours(count: int, seed: int = 0) -> np.ndarray:
    """(count + 1, 3) uint8 colours, index 0 black."""
    colours = np.random.default_rng(seed).integers(40, 256, (count + 1, 3)).astype(np.uint8)
    colours[0] = 0
    return colours


def outline(ids: np.ndarray) -> np.ndarray:
    """Pixels whose 4-neighbourhood holds another id."""
    return ids != ndimage.grey_erosion(ids, footprint=ndimage.generate_binary_structure(2, 1), mode="nearest")


def depth_panel(depth: np.ndarray, edges: np.ndarray) -> np.ndarray:
    grey = (np.clip(depth, 0, 1) * 255).astype(np.uint8)
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    rgb[edges] = (255, 0, 0)
    return rgb


def instance_panel(segments: pan.Segments) -> np.ndarray:
    things = cs.IS_THING[segments.classes][segments.ids] & (segments.ids > 0)
    colours = random_colours(segments.count)
    rgb = np.where(things[:, :, None], colours[segments.ids], 0).astype(np.uint8)
    rgb[outline(np.where(things, segments.ids, 0))] = 255
    return rgb


def error_panel(gt: pan.Segments, pred: pan.Segments) -> np.ndarray:
    """Green matched, red missed GT things, yellow unmatched predicted things (reference protocol)."""
    matched_gt, matched_pred = pan.matched_segments(gt, pred, pan.REFERENCE)
    rgb = np.full(gt.ids.shape + (3,), 60, np.uint8)
    gt_things = cs.IS_THING[gt.classes][gt.ids] & (gt.ids > 0)
    pred_things = cs.IS_THING[pred.classes][pred.ids] & (pred.ids > 0)
    rgb[pred_things & ~np.isin(pred.ids, matched_pred)] = (255, 220, 0)
    rgb[gt_things & ~np.isin(gt.ids, matched_gt)] = (220, 30, 30)
    rgb[gt_things & np.isin(gt.ids, matched_gt)] = (40, 200, 60)
    return rgb


def _titled(panel: np.ndarray, title: str) -> np.ndarray:
    image = Image.fromarray(cs.resize_nearest(panel, PANEL))
    canvas = Image.new("RGB", (PANEL[1], PANEL[0] + LABEL_BAR), (0, 0, 0))
    canvas.paste(image, (0, LABEL_BAR))
    ImageDraw.Draw(canvas).text((4, 3), title, fill=(255, 255, 255))
    return np.asarray(canvas)


def picture(rgb: np.ndarray, semantic: np.ndarray, depth: np.ndarray, tau: float, min_area: int,
            gt_train: np.ndarray | None, gt_instance: np.ndarray | None) -> np.ndarray:
    """The six-panel picture of one image (inputs at the working size, GT at any size)."""
    gradient = inst.depth_gradient(depth)
    found = inst.split_instances(semantic, gradient, tau, min_area)
    pred = pan.predicted_segments(semantic, found, pan.STUFF_MIN_AREA, pan.THING_MIN_AREA)
    panels = [_titled(np.asarray(Image.fromarray(rgb).resize(semantic.shape[::-1], Image.BILINEAR)), "input"),
              _titled(cs.colorize(semantic), "semantic pseudo-labels"),
              _titled(depth_panel(depth, gradient > tau), f"depth, edges at tau {tau:.2f}"),
              _titled(instance_panel(pred), f"instances (A_min {min_area}): {len(found)}")]
    if gt_train is not None and gt_instance is not None:
        gt = pan.reference_gt_segments(cs.resize_nearest(gt_train, semantic.shape),
                                       cs.resize_nearest(gt_instance, semantic.shape))
        gt_semantic = np.where(gt.ids > 0, gt.classes[gt.ids], cs.IGNORE_ID).astype(np.uint8)
        panels += [_titled(cs.colorize(gt_semantic), "ground truth"),
                   _titled(error_panel(gt, pred), "green TP, red FN, yellow FP (things)")]
    else:
        blank = np.zeros(PANEL + (3,), np.uint8)
        panels += [_titled(blank, "no ground truth"), _titled(blank, "")]
    return np.concatenate([np.concatenate(panels[:3], axis=1), np.concatenate(panels[3:], axis=1)], axis=0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cityscapes_root", required=True, type=Path)
    parser.add_argument("--split", default="val")
    parser.add_argument("--semantic_subdir", default="pseudo_semantic_raw_k80")
    parser.add_argument("--centroids_path", type=Path, default=None,
                        help="for raw cluster PNGs (default: {root}/{semantic_subdir}/kmeans_centroids.npz if present)")
    parser.add_argument("--depth_subdir", default=cs.DEPTH_SUBDIR)
    parser.add_argument("--grad_threshold", type=float, default=0.20)
    parser.add_argument("--min_area", type=int, default=1000)
    parser.add_argument("--stems", nargs="*", default=None, help="image stems (default: the first --limit images)")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.cityscapes_root
    files = cs.output_paths(root / args.semantic_subdir, args.split, ".png", "semantic PNG")
    if args.stems:
        wanted = set(args.stems)
        files = {k: v for k, v in files.items() if k.split("/")[1] in wanted}
        if len(files) != len(wanted):
            raise InputError(f"stems not found under {root / args.semantic_subdir / args.split}: "
                             f"{sorted(wanted - {k.split('/')[1] for k in files})}")
    else:
        files = dict(list(files.items())[: args.limit])
    centroids = args.centroids_path or root / args.semantic_subdir / "kmeans_centroids.npz"
    first = cs.read_label_png(next(iter(files.values())))
    table = load_cluster_to_class(centroids) if centroids.is_file() else None
    units = export.decide_units(int(first.max()), centroids if table is not None else None)
    images = cs.image_paths(root, args.split)
    labels = instances = {}
    if (root / "gtFine" / args.split).is_dir():
        labels, instances = cs.label_ids_paths(root, args.split), cs.instance_ids_paths(root, args.split)
    for key, path in files.items():
        semantic = units.unit_map(cs.resize_nearest(cs.read_label_png(path, units.max_id + 1), export.WORKING_SIZE), path)
        depth = load_depth(cs.output_path(root / args.depth_subdir, args.split, key, ".npy"), export.WORKING_SIZE)
        gt_train = cs.load_train_ids(labels[key]) if key in labels else None
        gt_instance = cs.load_instance_ids(instances[key]) if key in instances else None
        image = picture(cs.read_rgb(images[key]), semantic, depth, args.grad_threshold, args.min_area, gt_train, gt_instance)
        out = write_png(args.out / f"{key.split('/')[1]}.png", image)
        print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
