"""Synthetic Cityscapes-format street scenes: the data of the tests and the demo.

No real Cityscapes image can ship with this project, so this module draws
deterministic street scenes in exactly the Cityscapes file layout:

* ``leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png``   RGB uint8
* ``gtFine/{split}/{city}/{stem}_gtFine_labelIds.png``    uint8 labelIds
* ``gtFine/{split}/{city}/{stem}_gtFine_instanceIds.png`` uint16 instanceIds
* ``depth_spidepth/{split}/{city}/{stem}.npy``           float32 in [0, 1], half size

A scene has sky, buildings, vegetation, terrain, road, sidewalk, poles with
signs, and cars, persons, riders and bicycles standing on a ground plane: nearer
objects are larger, lower in the frame and painted over farther ones, so
instances touch and occlude each other at different depths. Groups too far away
to separate are labelled as crowd regions (a thing labelId with no instance
index), and the ego-vehicle hood and an out-of-ROI rim are void, as in real
Cityscapes. The depth map is the log distance of every pixel, min-max
normalised, so it jumps at object boundaries like a monocular depth network's.

Optionally (``--with_prediction``) a degraded "prediction" is written too: raw
cluster PNGs (``pseudo_semantic_raw_k{k}``) whose clusters map many-to-one to
trainIds, plus a ``kmeans_centroids.npz``, for sweep and evaluation tests.

Each image is drawn from ``numpy.random.default_rng([seed, index])``, so the
same seed gives the same bytes, and image ``i`` does not depend on ``N``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_json, write_npy, write_npz, write_png

log = logging.getLogger(__name__)

CITIES = {
    "train": ("aachen", "bochum", "bremen", "cologne"),
    "val": ("frankfurt", "lindau", "munster"),
    "test": ("berlin", "bielefeld", "bonn"),
}
"""City names used per split (real Cityscapes city names)."""

NEAR_M, FAR_M = 3.0, 120.0
"""Distance range of the scene in metres; sky is at FAR_M."""

CAMERA_HEIGHT_M = 1.5

_ID = {name: cs.label_id(name) for name in (
    "ego vehicle", "out of roi", "road", "sidewalk", "building", "pole", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "bicycle",
)}


@dataclass(frozen=True)
class Scene:
    """One synthetic image with its ground truth, at full resolution (H, W).

    ``rgb``: HxWx3 uint8. ``label_ids``: HxW uint8 Cityscapes labelIds.
    ``instance_ids``: HxW uint16 (labelId*1000+index for instances, labelId elsewhere,
    so thing pixels below 1000 are crowd). ``distance``: HxW float32 metres.
    """

    rgb: np.ndarray
    label_ids: np.ndarray
    instance_ids: np.ndarray
    distance: np.ndarray


class _Canvas:
    """Painter's-algorithm canvas: later paints cover earlier ones."""

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.label_ids = np.zeros((height, width), np.uint8)
        self.instance_ids = np.zeros((height, width), np.uint16)
        self.distance = np.full((height, width), FAR_M, np.float32)
        self.shade = np.zeros((height, width), np.int16)

    def paint(self, rows: slice, cols: slice, mask: np.ndarray | None, label: int, instance: int,
              distance: float | np.ndarray, shade: int = 0) -> None:
        """Paint ``label`` where ``mask`` (relative to the box rows x cols) is True."""
        box = (rows, cols)
        region = np.ones(self.label_ids[box].shape, bool) if mask is None else mask
        self.label_ids[box][region] = label
        self.instance_ids[box][region] = instance
        dist = np.broadcast_to(np.asarray(distance, np.float32), region.shape)
        self.distance[box][region] = dist[region]
        self.shade[box][region] = shade


def _ground_distance(rows: np.ndarray, horizon: float, focal: float) -> np.ndarray:
    """Distance (m) of the ground plane seen at image rows below the horizon."""
    below = np.maximum(rows - horizon, 1e-3)
    return np.clip(CAMERA_HEIGHT_M * focal / below, NEAR_M, FAR_M)


def _box(canvas: _Canvas, top: float, bottom: float, left: float, right: float) -> tuple[slice, slice] | None:
    """Integer box clipped to the canvas, or None when empty."""
    r0, r1 = max(int(round(top)), 0), min(int(round(bottom)), canvas.height)
    c0, c1 = max(int(round(left)), 0), min(int(round(right)), canvas.width)
    if r1 <= r0 or c1 <= c0:
        return None
    return slice(r0, r1), slice(c0, c1)


def _ellipse_mask(rows: slice, cols: slice, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy = np.arange(rows.start, rows.stop)[:, None] + 0.5
    xx = np.arange(cols.start, cols.stop)[None, :] + 0.5
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def _draw_background(canvas: _Canvas, rng: np.random.Generator, horizon: float, focal: float) -> None:
    """Sky, buildings, vegetation, then the ground (road, sidewalk, terrain)."""
    h, w = canvas.height, canvas.width
    canvas.paint(slice(0, h), slice(0, w), None, _ID["sky"], _ID["sky"], FAR_M)
    # Buildings: a row of blocks with a random skyline, facades at 25-70 m.
    x = 0.0
    while x < w:
        width = rng.uniform(0.08, 0.22) * w
        top = horizon - rng.uniform(0.12, 0.38) * h
        box = _box(canvas, top, horizon + 1, x, x + width)
        if box:
            canvas.paint(*box, None, _ID["building"], _ID["building"], rng.uniform(25, 70), int(rng.integers(-25, 25)))
        x += width
    # Trees: ellipses in front of the buildings.
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(0, w), horizon - rng.uniform(0.02, 0.15) * h
        ry, rx = rng.uniform(0.05, 0.12) * h, rng.uniform(0.04, 0.1) * w
        box = _box(canvas, cy - ry, cy + ry, cx - rx, cx + rx)
        if box:
            mask = _ellipse_mask(*box, cy, cx, ry, rx)
            canvas.paint(*box, mask, _ID["vegetation"], _ID["vegetation"], rng.uniform(15, 25))
    # Ground: road in a trapezoid that widens towards the camera; sidewalk and terrain beside it.
    top = int(np.ceil(horizon))
    rows = np.arange(top, h)
    ground = _ground_distance(rows + 0.5, horizon, focal)
    frac = (rows - horizon) / (h - horizon)
    centre = w * rng.uniform(0.42, 0.58)
    half = w * (0.02 + 0.6 * frac)
    cols = np.arange(w)[None, :] + 0.5
    road = np.abs(cols - centre) <= half[:, None]
    terrain = np.abs(cols - centre) >= half[:, None] * 1.9 + 0.05 * w
    labels = np.where(road, _ID["road"], np.where(terrain, _ID["terrain"], _ID["sidewalk"])).astype(np.uint8)
    dist = np.broadcast_to(ground[:, None], labels.shape)
    box = (slice(top, h), slice(0, w))
    canvas.label_ids[box] = labels
    canvas.instance_ids[box] = labels
    canvas.distance[box] = dist
    canvas.shade[box] = 0


def _draw_objects(canvas: _Canvas, rng: np.random.Generator, horizon: float, focal: float) -> None:
    """Poles, cars, persons, riders on bicycles and crowds, painted far to near."""
    w = canvas.width
    objects: list[tuple[float, str, float]] = []  # (distance, kind, centre x)

    def add(kind: str, distance: float, cx: float) -> None:
        objects.append((distance, kind, cx))

    for _ in range(int(rng.integers(2, 5))):
        add("pole", rng.uniform(6, 40), rng.uniform(0, w))
    # A row of parked cars: adjacent, similar distances (hard to split by depth alone).
    row_dist, row_x = rng.uniform(7, 20), rng.uniform(0.05, 0.4) * w
    for i in range(int(rng.integers(2, 4))):
        add("car", row_dist + 0.8 * i, row_x + i * 1.1 * (4.2 * focal / (row_dist + 0.8 * i)))
    for _ in range(int(rng.integers(2, 5))):
        add("car", rng.uniform(5, 45), rng.uniform(0, w))
    # A group of pedestrians side by side, plus some scattered ones.
    group_dist, group_x = rng.uniform(5, 18), rng.uniform(0.5, 0.95) * w
    for i in range(int(rng.integers(2, 4))):
        add("person", group_dist + rng.uniform(-0.5, 0.5), group_x + i * 0.55 * focal / group_dist)
    for _ in range(int(rng.integers(1, 4))):
        add("person", rng.uniform(4, 30), rng.uniform(0, w))
    if rng.random() < 0.7:
        add("cyclist", rng.uniform(6, 25), rng.uniform(0, w))
    add("crowd_person", rng.uniform(45, 70), rng.uniform(0.1, 0.9) * w)
    if rng.random() < 0.5:
        add("crowd_car", rng.uniform(50, 80), rng.uniform(0.1, 0.9) * w)

    counters = {name: 0 for name in ("person", "rider", "car", "bicycle")}

    def instance(name: str) -> int:
        value = _ID[name] * cs.INSTANCE_OFFSET + counters[name]
        counters[name] += 1
        return value

    for distance, kind, cx in sorted(objects, key=lambda o: -o[0]):
        scale = focal / distance  # pixels per metre at this distance
        foot = horizon + CAMERA_HEIGHT_M * scale
        shade = int(rng.integers(-40, 40))
        if kind == "pole":
            box = _box(canvas, foot - 4.5 * scale, foot, cx - 0.08 * scale, cx + 0.08 * scale)
            if box:
                canvas.paint(*box, None, _ID["pole"], _ID["pole"], distance)
            box = _box(canvas, foot - 4.5 * scale, foot - 3.8 * scale, cx - 0.35 * scale, cx + 0.35 * scale)
            if box:
                canvas.paint(*box, None, _ID["traffic sign"], _ID["traffic sign"], distance - 0.05)
        elif kind in ("car", "crowd_car"):
            label = _ID["car"]
            inst = instance("car") if kind == "car" else label
            body = _box(canvas, foot - 1.0 * scale, foot, cx - 2.0 * scale, cx + 2.0 * scale)
            cabin = _box(canvas, foot - 1.5 * scale, foot - 0.9 * scale, cx - 1.2 * scale, cx + 1.1 * scale)
            for box in (body, cabin):
                if box:
                    canvas.paint(*box, None, label, inst, distance, shade)
        elif kind in ("person", "crowd_person"):
            label = _ID["person"]
            count = 1 if kind == "person" else int(rng.integers(4, 8))
            for j in range(count):
                px = cx + (j - count / 2) * 0.45 * scale
                inst = instance("person") if kind == "person" else label
                _draw_person(canvas, foot, px, scale, label, inst, distance, shade)
        elif kind == "cyclist":
            wheel = 0.35 * scale
            bike = _box(canvas, foot - 2 * wheel, foot, cx - 0.9 * scale, cx + 0.9 * scale)
            if bike:
                mask = (_ellipse_mask(*bike, foot - wheel, cx - 0.55 * scale, wheel, wheel)
                        | _ellipse_mask(*bike, foot - wheel, cx + 0.55 * scale, wheel, wheel))
                canvas.paint(*bike, mask, _ID["bicycle"], instance("bicycle"), distance, shade)
            _draw_person(canvas, foot - 0.7 * scale, cx, scale * 0.85, _ID["rider"], instance("rider"),
                         distance - 0.1, shade)


def _draw_person(canvas: _Canvas, foot: float, cx: float, scale: float, label: int, inst: int,
                 distance: float, shade: int) -> None:
    """A pedestrian: an elliptical head on a rectangular body, 1.75 m tall."""
    body = _box(canvas, foot - 1.5 * scale, foot, cx - 0.22 * scale, cx + 0.22 * scale)
    if body:
        canvas.paint(*body, None, label, inst, distance, shade)
    head_y, head_r = foot - 1.62 * scale, 0.13 * scale
    head = _box(canvas, head_y - head_r, head_y + head_r, cx - head_r, cx + head_r)
    if head:
        canvas.paint(*head, _ellipse_mask(*head, head_y, cx, head_r, head_r), label, inst, distance, shade)


def _draw_void(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Ego-vehicle hood at the bottom and an out-of-ROI rim around the frame (both void)."""
    h, w = canvas.height, canvas.width
    hood_top = h * rng.uniform(0.86, 0.92)
    box = _box(canvas, hood_top, h, 0, w)
    if box:
        mask = _ellipse_mask(*box, h + (h - hood_top) * 2.0, w / 2, (h - hood_top) * 3.0, w * 0.75)
        canvas.paint(*box, mask, _ID["ego vehicle"], _ID["ego vehicle"], NEAR_M)
    rim = max(1, round(0.004 * min(h, w)))
    for box in ((slice(0, rim), slice(0, w)), (slice(h - rim, h), slice(0, w)),
                (slice(0, h), slice(0, rim)), (slice(0, h), slice(w - rim, w))):
        canvas.label_ids[box] = _ID["out of roi"]
        canvas.instance_ids[box] = _ID["out of roi"]


def make_scene(rng: np.random.Generator, height: int = 1024, width: int = 2048) -> Scene:
    """Draw one street scene of size (height, width) from ``rng``."""
    canvas = _Canvas(height, width)
    horizon = height * rng.uniform(0.40, 0.48)
    focal = 0.55 * width  # pixels; roughly Cityscapes' field of view
    _draw_background(canvas, rng, horizon, focal)
    _draw_objects(canvas, rng, horizon, focal)
    _draw_void(canvas, rng)
    train_ids = cs.LABEL_ID_TO_TRAIN_ID[canvas.label_ids]
    palette = np.zeros((256, 3), np.int16)
    palette[: cs.NUM_CLASSES] = cs.CLASS_COLORS
    palette[cs.IGNORE_ID] = (40, 40, 40)
    rgb = palette[train_ids] + canvas.shade[:, :, None]
    rgb += rng.integers(-12, 13, size=rgb.shape, dtype=np.int16)
    return Scene(
        rgb=np.clip(rgb, 0, 255).astype(np.uint8),
        label_ids=canvas.label_ids,
        instance_ids=canvas.instance_ids,
        distance=canvas.distance,
    )


def normalised_depth(distance: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Depth map as the pipeline stores it: log distance, resized bilinearly to ``size``, min-max to [0, 1]."""
    depth = cs.resize_bilinear(np.log(distance.astype(np.float32)), size)
    low, high = float(depth.min()), float(depth.max())
    if high - low < 1e-6:
        return np.zeros(size, np.float32)
    return ((depth - low) / (high - low)).astype(np.float32)


# --------------------------------------------------------------------------- degraded prediction

_CONFUSIONS = {"road": "sidewalk", "sidewalk": "road", "vegetation": "terrain", "terrain": "vegetation",
               "person": "rider", "rider": "person", "car": "truck", "building": "wall", "pole": "traffic sign"}
"""Class swaps used to corrupt the prediction the way unsupervised segmenters err."""


def cluster_table(num_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """(k,) uint8 cluster -> trainId map: every trainId gets at least one cluster (k >= 19)."""
    if num_clusters < cs.NUM_CLASSES:
        raise ValueError(f"need at least {cs.NUM_CLASSES} clusters, got {num_clusters}")
    extra = rng.integers(0, cs.NUM_CLASSES, size=num_clusters - cs.NUM_CLASSES)
    return rng.permutation(np.concatenate([np.arange(cs.NUM_CLASSES), extra])).astype(np.uint8)


def degraded_prediction(train_ids: np.ndarray, cluster_to_class: np.ndarray, rng: np.random.Generator,
                        block: int = 32) -> np.ndarray:
    """Raw cluster ids (HxW, uint8; uint16 for k > 255) for a noisy copy of ``train_ids``.

    Void pixels become road, a few rectangles swap to a confusable class, the
    map is shifted by up to 2 px, and each 'block' x 'block' tile of a class
    picks one of that class's clusters, so clusters vary in space as k-means'
    do while mapping back to the (corrupted) class.
    """
    h, w = train_ids.shape
    swap = np.arange(256, dtype=np.uint8)
    for name, other in _CONFUSIONS.items():
        swap[cs.CLASS_NAMES.index(name)] = cs.CLASS_NAMES.index(other)
    pred = np.where(train_ids == cs.IGNORE_ID, cs.CLASS_NAMES.index("road"), train_ids).astype(np.uint8)
    for _ in range(int(rng.integers(3, 8))):
        r0, c0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        box = (slice(r0, r0 + int(rng.integers(h // 20, h // 5))), slice(c0, c0 + int(rng.integers(w // 20, w // 5))))
        pred[box] = swap[pred[box]]
    shift = tuple(int(s) for s in rng.integers(-2, 3, size=2))
    pred = np.roll(pred, shift, axis=(0, 1))
    # Choose one cluster per (tile, class): rank r among the class's clusters.
    members = [np.flatnonzero(cluster_to_class == c) for c in range(cs.NUM_CLASSES)]
    tiles = rng.random(((h + block - 1) // block, (w + block - 1) // block, cs.NUM_CLASSES))
    tile_choice = tiles[np.arange(h)[:, None] // block, np.arange(w)[None, :] // block, pred]
    counts = np.array([len(m) for m in members])
    rank = (tile_choice * counts[pred]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat_members = np.concatenate(members)
    return flat_members[offsets[pred] + rank].astype(cs.cluster_map_dtype(len(cluster_to_class)))


def random_centroids(num_clusters: int, rng: np.random.Generator, dim: int = 90) -> np.ndarray:
    """(k, dim) float64 unit rows, standing in for k-means centroids."""
    centroids = rng.standard_normal((num_clusters, dim))
    return centroids / np.linalg.norm(centroids, axis=1, keepdims=True)


# --------------------------------------------------------------------------- dataset writer


def image_key(split: str, index: int) -> str:
    """``city/stem`` of synthetic image ``index`` of a split (cities in turn, sequence = index)."""
    cities = CITIES.get(split, ("synthcity",))
    city = cities[index % len(cities)]
    return cs.stem_key(city, f"{city}_{index:06d}_000019")


MARKER_NOTE = "synthetic street scenes drawn by pseudo-labels synthetic: not Cityscapes images"


def marker_path(root: str | Path, split: str) -> Path:
    """``{root}/synthetic_{split}.json``: written with every synthetic split, so reports can say the data is synthetic."""
    return Path(root) / f"synthetic_{split}.json"


def shared_cluster_table(path: Path, num_clusters: int, seed: int) -> np.ndarray:
    """The prediction's ``cluster_to_class``: the one already in ``path`` (another split of this root), else a new one.

    Every split of a root shares one centroid file, as the semantics stage's
    splits do, so writing a second split never replaces the table the first
    split's cluster maps were drawn with.
    """
    if path.is_file():
        try:
            with np.load(path) as npz:
                table = np.asarray(npz["cluster_to_class"])
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"{path}: cannot be read as the synthetic centroid file ({exc}); remove it.") from None
        if table.shape != (num_clusters,):
            raise InputError(f"{path}: a table of {table.shape} where k = {num_clusters}; remove it.")
        return table
    table_rng = np.random.default_rng([seed, 2**31])
    table = cluster_table(num_clusters, table_rng)
    write_npz(path, {"centroids": random_centroids(num_clusters, table_rng), "cluster_to_class": table})
    return table


def write_dataset(root: str | Path, split: str = "val", num_images: int = 4, seed: int = 0,
                  size: tuple[int, int] = (1024, 2048), depth_size: tuple[int, int] | None = None,
                  num_clusters: int | None = None, show_progress: bool = True) -> list[str]:
    """Write ``num_images`` synthetic images (and their GT, depth and optional prediction) under ``root``.

    ``depth_size`` defaults to half of ``size`` (512x1024 for Cityscapes' 1024x2048),
    the resolution the depth stage writes. With ``num_clusters`` a degraded raw
    cluster prediction at the depth size is written to ``pseudo_semantic_raw_k{k}``.
    Returns the ``city/stem`` keys written.
    """
    root = Path(root)
    height, width = size
    if height < 64 or width < 64:
        raise InputError(f"--size {height} {width} is too small: use at least 64 x 64.")
    depth_size = depth_size or (height // 2, width // 2)
    pred_dir = root / f"pseudo_semantic_raw_k{num_clusters}" if num_clusters else None
    cluster_to_class = None
    if pred_dir is not None:
        cluster_to_class = shared_cluster_table(pred_dir / "kmeans_centroids.npz", num_clusters, seed)
    keys = [image_key(split, i) for i in range(num_images)]
    for index, key in enumerate(tqdm(keys, desc=f"synthetic {split}", disable=not show_progress)):
        rng = np.random.default_rng([seed, index])
        scene = make_scene(rng, height, width)
        write_png(root / "leftImg8bit" / split / f"{key}{cs.IMAGE_SUFFIX}", scene.rgb)
        write_png(root / "gtFine" / split / f"{key}{cs.LABEL_IDS_SUFFIX}", scene.label_ids)
        write_png(root / "gtFine" / split / f"{key}{cs.INSTANCE_IDS_SUFFIX}", scene.instance_ids)
        write_npy(cs.output_path(root / cs.DEPTH_SUBDIR, split, key, ".npy"), normalised_depth(scene.distance, depth_size))
        if pred_dir is not None:
            train_ids = cs.resize_nearest(cs.LABEL_ID_TO_TRAIN_ID[scene.label_ids], depth_size)
            write_png(cs.output_path(pred_dir, split, key, ".png"), degraded_prediction(train_ids, cluster_to_class, rng))
    write_json(marker_path(root, split), {
        "generator": "pseudo-labels synthetic", "synthetic": True, "note": MARKER_NOTE,
        "split": split, "num_images": num_images, "seed": seed,
        "size": list(size), "depth_size": list(depth_size), "num_clusters": num_clusters,
        "depth_subdir": cs.DEPTH_SUBDIR, "prediction_subdir": pred_dir.name if pred_dir is not None else None,
    })
    return keys


# --------------------------------------------------------------------------- a folder of photos

PHOTO_KINDS = (
    ("dashcam", (512, 1024), ".jpg", "RGB"),      # Cityscapes' shape, JPEG
    ("kitti_like", (376, 1248), ".png", "RGB"),   # KITTI's wide frames
    ("phone", (640, 360), ".jpg", "RGB"),         # a portrait phone photo
    ("mono", (400, 800), ".png", "L"),            # a greyscale camera
)
"""The photos of :func:`write_photo_folder` in turn: sub-folder, (H, W), format and Pillow mode."""


def write_photo_folder(folder: str | Path, depth_root: str | Path, split: str = "train", num_images: int = 8,
                       seed: int = 0) -> dict[str, Path]:
    """Synthetic street photos as a user's folder holds them: nested, mixed sizes, JPEG and PNG, a portrait and a
    greyscale one (:data:`PHOTO_KINDS` in turn), with no ground truth. Their depth is written beside, as the
    depth stage would (``{depth_root}/depth_spidepth/{split}/{key}.npy`` at each frame's working size), for runs
    without SPIdepth weights. Returns ``key -> photo``."""
    from PIL import Image

    from pseudo_labels.data.frames import working_size

    folder, written = Path(folder), {}
    for index in range(num_images):
        kind, (height, width), suffix, mode = PHOTO_KINDS[index % len(PHOTO_KINDS)]
        scene = make_scene(np.random.default_rng([seed, index]), height, width)
        key = f"{kind}/{index:04d}"
        path = folder / f"{key}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene.rgb).convert(mode).save(path, **({"quality": 95} if suffix == ".jpg" else {}))
        write_npy(cs.output_path(Path(depth_root) / cs.DEPTH_SUBDIR, split, key, ".npy"),
                  normalised_depth(scene.distance, working_size(height, width)))
        written[key] = path
    write_json(Path(depth_root) / f"synthetic_photos_{split}.json", {
        "generator": "pseudo-labels demo --layout folder", "synthetic": True, "note": MARKER_NOTE, "split": split,
        "num_images": num_images, "seed": seed, "photo_folder": str(folder), "depth_subdir": cs.DEPTH_SUBDIR})
    return dict(sorted(written.items()))
