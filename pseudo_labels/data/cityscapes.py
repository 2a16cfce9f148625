"""Cityscapes label table and dataset layout: the one place these are defined.

Every lookup is derived from ``cityscapesscripts.helpers.labels`` so that ids,
names and colours cannot drift from the official table. Other modules import
the constants below; none of them redefines a trainId table.

Layout handled here (``{stem}`` is ``{city}_{seq:06d}_{frame:06d}``)::

    {root}/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png
    {root}/gtFine/{split}/{city}/{stem}_gtFine_labelIds.png
    {root}/gtFine/{split}/{city}/{stem}_gtFine_instanceIds.png    (16-bit)
    {root}/{subdir}/{split}/{city}/{stem}{suffix}                  (our outputs)

Images and label maps are keyed by ``"{city}/{stem}"`` and returned sorted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from cityscapesscripts.helpers.labels import labels as _CS_LABELS
from cityscapesscripts.helpers.labels import name2label as _CS_NAME_TO_LABEL
from PIL import Image

from pseudo_labels.core.errors import InputError

# --------------------------------------------------------------------------- label table

IGNORE_ID = 255
"""trainId (and cluster id) meaning "void / not evaluated"."""

NUM_CLASSES = 19
WORKING_SIZE = (512, 1024)
"""(H, W) the pipeline works at: depth maps, instance splitting, the reference protocol, training labels' split."""
"""Number of Cityscapes trainIds (0..18)."""

_TRAIN_LABELS = sorted((lab for lab in _CS_LABELS if 0 <= lab.trainId < IGNORE_ID), key=lambda lab: lab.trainId)
assert [lab.trainId for lab in _TRAIN_LABELS] == list(range(NUM_CLASSES)), "unexpected cityscapesscripts table"

CLASS_NAMES: tuple[str, ...] = tuple(lab.name for lab in _TRAIN_LABELS)
"""Name of each trainId, index = trainId."""

CLASS_COLORS = np.array([lab.color for lab in _TRAIN_LABELS], dtype=np.uint8)
"""(19, 3) uint8 RGB colour of each trainId (the official palette)."""

TRAIN_ID_TO_LABEL_ID = np.array([lab.id for lab in _TRAIN_LABELS], dtype=np.uint8)
"""(19,) labelId of each trainId; the category ids of Cityscapes panoptic JSON."""

THING_TRAIN_IDS: tuple[int, ...] = tuple(lab.trainId for lab in _TRAIN_LABELS if lab.hasInstances)
"""trainIds with instances (person .. bicycle = 11..18)."""

STUFF_TRAIN_IDS: tuple[int, ...] = tuple(lab.trainId for lab in _TRAIN_LABELS if not lab.hasInstances)
"""trainIds without instances (road .. sky = 0..10)."""



def original_class_name(class_id: int) -> str:
    """The original scripts' name of a semantic id in their stats: the trainId name with ``_`` for spaces, else ``class_{id}``."""
    return CLASS_NAMES[class_id].replace(" ", "_") if 0 <= class_id < NUM_CLASSES else f"class_{class_id}"


IS_THING = np.zeros(256, dtype=bool)
IS_THING[list(THING_TRAIN_IDS)] = True
"""(256,) bool lookup: ``IS_THING[train_id]``; False for 255."""


def _label_id_lookup(values: dict[int, int], fill: int) -> np.ndarray:
    table = np.full(256, fill, dtype=np.uint8)
    for label_id, value in values.items():
        table[label_id] = value
    return table


LABEL_ID_TO_TRAIN_ID = _label_id_lookup(
    {lab.id: (lab.trainId if 0 <= lab.trainId < IGNORE_ID else IGNORE_ID) for lab in _CS_LABELS if lab.id >= 0},
    IGNORE_ID,
)
"""(256,) uint8 lookup: ``LABEL_ID_TO_TRAIN_ID[label_ids]`` gives trainIds (255 for void)."""

THING_LABEL_IDS: tuple[int, ...] = tuple(lab.id for lab in _CS_LABELS if lab.hasInstances and not lab.ignoreInEval)
"""labelIds of the 8 evaluated thing classes (24..28, 31..33)."""

# The 27 classes CAUSE predicts are the labelIds 7..33 in order (road .. bicycle).
CAUSE27_LABEL_IDS: tuple[int, ...] = tuple(range(7, 34))
NUM_CAUSE27 = len(CAUSE27_LABEL_IDS)
"""labelId of each CAUSE class id 0..26."""

CAUSE27_NAMES: tuple[str, ...] = tuple(
    next(lab.name for lab in _CS_LABELS if lab.id == label_id) for label_id in CAUSE27_LABEL_IDS
)
"""Name of each CAUSE class id 0..26."""

CAUSE27_TO_TRAIN_ID = LABEL_ID_TO_TRAIN_ID[np.array(CAUSE27_LABEL_IDS)]
"""(27,) uint8: trainId of each CAUSE class (255 for the 8 classes outside the 19)."""

LABEL_ID_TO_CAUSE27 = _label_id_lookup({label_id: i for i, label_id in enumerate(CAUSE27_LABEL_IDS)}, IGNORE_ID)
"""(256,) uint8 lookup: labelId -> CAUSE class id (255 outside 7..33)."""

CAUSE27_THING_IDS: tuple[int, ...] = tuple(
    i for i, label_id in enumerate(CAUSE27_LABEL_IDS) if next(lab for lab in _CS_LABELS if lab.id == label_id).hasInstances
)
"""CAUSE class ids of the 10 classes with instances (person .. bicycle, caravan and trailer included)."""

TRAIN_ID_TO_CAUSE27 = np.full(256, IGNORE_ID, np.uint8)
TRAIN_ID_TO_CAUSE27[:NUM_CLASSES] = LABEL_ID_TO_CAUSE27[TRAIN_ID_TO_LABEL_ID]
"""(256,) uint8 lookup: trainId -> CAUSE class id (255 stays 255)."""



@dataclass(frozen=True)
class ClassSpace:
    """The classes a protocol scores: their names, palette colours and which have instances.

    Segments carry their space, so pictures and per-segment analyses name,
    colour and sort classes right whether they are the 19 trainIds or CUPS'
    27 (labelIds 7..33).
    """

    names: tuple[str, ...]
    colors: tuple[tuple[int, int, int], ...]
    things: tuple[int, ...]

    def is_thing(self, classes: np.ndarray) -> np.ndarray:
        """Bool per entry of ``classes``: a thing class (ids outside the space, e.g. 255, are not)."""
        lookup = np.zeros(256, bool)
        lookup[list(self.things)] = True
        return lookup[np.asarray(classes)]

    def colorize(self, classes: np.ndarray) -> np.ndarray:
        """HxW class ids -> HxWx3 uint8 palette colours (ids outside the space black)."""
        palette = np.zeros((256, 3), dtype=np.uint8)
        palette[: len(self.colors)] = self.colors
        return palette[classes]


def _colors_of(label_ids: tuple[int, ...]) -> tuple[tuple[int, int, int], ...]:
    return tuple(tuple(int(v) for v in next(lab.color for lab in _CS_LABELS if lab.id == i)) for i in label_ids)


TRAIN_ID_CLASSES = ClassSpace(CLASS_NAMES, _colors_of(tuple(int(i) for i in TRAIN_ID_TO_LABEL_ID)), THING_TRAIN_IDS)
"""The 19 trainIds of the reference and official protocols."""
CAUSE27_CLASSES = ClassSpace(CAUSE27_NAMES, _colors_of(CAUSE27_LABEL_IDS), CAUSE27_THING_IDS)
"""CUPS' (and CAUSE's) 27 classes: labelIds 7..33 as ids 0..26."""


def cluster_classes(num_clusters: int, thing_clusters: tuple[int, ...]) -> ClassSpace:
    """Label-free clusters as classes (``cluster {c}``, a fixed colour each): no class name is known, only which
    clusters are things."""
    colors = np.random.default_rng(num_clusters).integers(0, 256, (num_clusters, 3))
    return ClassSpace(tuple(f"cluster {c}" for c in range(num_clusters)),
                      tuple(tuple(int(v) for v in row) for row in colors), tuple(thing_clusters))


def label_id(name: str) -> int:
    """Cityscapes labelId of a class name (``"car"`` -> 26), from the official table."""
    try:
        return int(_CS_NAME_TO_LABEL[name].id)
    except KeyError:
        raise KeyError(f"{name!r} is not a Cityscapes class name") from None


INSTANCE_OFFSET = 1000
"""Cityscapes instanceIds: ``labelId * 1000 + index`` for instances; plain labelId below 1000."""

# --------------------------------------------------------------------------- layout

SPLITS = ("train", "val", "test")
IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
INSTANCE_IDS_SUFFIX = "_gtFine_instanceIds.png"
DEPTH_SUBDIR = "depth_spidepth"

MAX_CLUSTERS_8BIT = 255
"""Up to this k, raw cluster maps are 8-bit PNGs (ids 0..254; 255 stays free, void in trainId maps)."""
MAX_CLUSTERS = 65535
"""The largest k: above 255 clusters, raw cluster maps are 16-bit PNGs."""


def cluster_map_dtype(k: int) -> np.dtype:
    """uint8 for k <= 255 clusters, else uint16: the dtype (and PNG depth) of a raw cluster map."""
    return np.dtype(np.uint8 if k <= MAX_CLUSTERS_8BIT else np.uint16)


_STEM_TAIL = re.compile(r"_\d{6}_\d{6}$")




def is_cityscapes_stem(city: str, stem: str) -> bool:
    """Whether ``stem`` is a Cityscapes name of ``city``: ``{city}_{seq:06d}_{frame:06d}``."""
    return stem.startswith(city + "_") and _STEM_TAIL.search(stem) is not None


def stem_key(city: str, stem: str) -> str:
    """Key used throughout for one image: ``"{city}/{stem}"``."""
    return f"{city}/{stem}"


def scan_folder(folder: Path, suffix: str, what: str) -> dict[str, Path]:
    """Find ``{folder}/{city}/{stem}{suffix}`` files, keyed ``city/stem``, sorted.

    Raises InputError for a missing folder, a folder with no such files, or a
    file whose name does not follow ``{city}_{seq:06d}_{frame:06d}{suffix}``.
    """
    if not folder.is_dir():
        raise InputError(f"{what} folder not found: {folder}. Check --cityscapes_root and --split.")
    found: dict[str, Path] = {}
    for city_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        city = city_dir.name
        for path in sorted(city_dir.glob(f"*{suffix}")):
            stem = path.name[: -len(suffix)]
            if not is_cityscapes_stem(city, stem):
                raise InputError(
                    f"{path}: name does not follow the Cityscapes pattern "
                    f"'{city}_<seq:6 digits>_<frame:6 digits>{suffix}'. Rename or remove the file."
                )
            found[stem_key(city, stem)] = path
    if not found:
        raise InputError(f"no {what} files (*{suffix}) under {folder}: the split is empty.")
    return dict(sorted(found.items()))


def image_paths(root: str | Path, split: str) -> dict[str, Path]:
    """All ``leftImg8bit`` images of a split, keyed ``city/stem``, sorted."""
    return scan_folder(Path(root) / "leftImg8bit" / split, IMAGE_SUFFIX, "leftImg8bit image")


def label_ids_paths(root: str | Path, split: str) -> dict[str, Path]:
    """All ``gtFine`` labelIds PNGs of a split, keyed ``city/stem`` (ground truth: evaluation only)."""
    return scan_folder(Path(root) / "gtFine" / split, LABEL_IDS_SUFFIX, "gtFine labelIds")


def instance_ids_paths(root: str | Path, split: str) -> dict[str, Path]:
    """All ``gtFine`` instanceIds PNGs of a split, keyed ``city/stem`` (ground truth: evaluation only)."""
    return scan_folder(Path(root) / "gtFine" / split, INSTANCE_IDS_SUFFIX, "gtFine instanceIds")


def output_paths(folder: str | Path, split: str, suffix: str, what: str = "pseudo-label") -> dict[str, Path]:
    """Files this toolkit wrote under ``{folder}/{split}/{key}{suffix}``, keyed by ``key``, sorted.

    A key is the frame's path below its split (``city/stem`` for Cityscapes,
    any depth for other layouts: :mod:`pseudo_labels.data.frames`). Hidden
    files and folders are skipped. A missing folder, or one without such
    files, is an InputError.
    """
    return files_below(Path(folder) / split, suffix, what, "Check --cityscapes_root and --split.")


def files_below(base: Path, suffix: str, what: str, fix: str) -> dict[str, Path]:
    """``{base}/{key}{suffix}`` files at any depth, keyed by ``key``, sorted (hidden files and folders skipped); a
    missing folder (``fix`` says what to check) or one without such files is an InputError."""
    if not base.is_dir():
        raise InputError(f"{what} folder not found: {base}. {fix}")
    found = {}
    for path in base.rglob(f"*{suffix}"):
        relative = path.relative_to(base)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            found[relative.as_posix()[: -len(suffix)]] = path
    if not found:
        raise InputError(f"no {what} files (*{suffix}) under {base}: the split is empty.")
    return dict(sorted(found.items()))


def output_path(folder: str | Path, split: str, key: str, suffix: str) -> Path:
    """Where the output for image ``key`` (``city/stem``) goes: ``{folder}/{split}/{city}/{stem}{suffix}``."""
    return Path(folder) / split / f"{key}{suffix}"




# --------------------------------------------------------------------------- loaders


LABEL_MODES = ("L", "I;16")
"""Pillow modes of a PNG of ids: 8- or 16-bit greyscale. A palette ('P') PNG stores indices into its
colours, so a colour picture saved with a palette would read as plausible ids: it is refused instead."""
PHOTO_MODES = ("RGB", "RGBA", "L", "LA", "P", "PA", "CMYK", "YCbCr")
"""Pillow modes of 8-bit photos; each is converted to RGB by its own rule (a palette through its colours)."""
MODE_NAMES = {"1": "1-bit", "L": "8-bit greyscale", "LA": "8-bit greyscale+alpha", "P": "palette (colour-indexed)",
              "PA": "palette+alpha", "I;16": "16-bit greyscale", "I": "32-bit integer", "F": "32-bit float",
              "RGB": "8-bit RGB", "RGBA": "8-bit RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr"}


def _mode_name(mode: str) -> str:
    return MODE_NAMES.get(mode, f"mode {mode}")


def read_png(path: str | Path, modes: tuple[str, ...] | None = None, what: str = "this file",
             fix: str = "") -> np.ndarray:
    """Read an image file as a numpy array; unreadable files, and (given ``modes``) files of another Pillow
    mode, are an InputError naming the file (``what`` it should be, and ``fix``)."""
    try:
        with Image.open(path) as img:
            if modes is not None and img.mode not in modes:
                wanted = " or ".join(_mode_name(m) for m in modes)
                raise InputError(f"{path}: the image is {_mode_name(img.mode)}, but {what} must be {wanted}. "
                                 f"{fix}".rstrip())
            img.load()
            return np.array(img)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found.") from None
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow reports truncated/corrupt files this way
        raise InputError(f"{path}: cannot be read as an image ({exc}). Re-create or remove the file.") from None




def read_png_fast(path: str | Path) -> np.ndarray:
    """Read a grey (8/16-bit) or colour PNG with OpenCV, colour channels in RGB order.

    About 1.4x faster than Pillow on 2-Mpx files, which matters where the
    evaluation reads thousands of full-resolution maps. Palette PNGs come back
    as their colours (Pillow would return the indices), so use this only where
    the stored values are grey levels or colours: instanceIds and panoptic PNGs.
    """
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:  # missing or unreadable: let Pillow name the problem
        return read_png(path)
    if array.ndim == 3:
        array = np.ascontiguousarray(array[:, :, 2::-1])  # BGR(A) -> RGB
    return array


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a photo as HxWx3 uint8 RGB: greyscale repeated, alpha dropped, a palette through its colours.

    16-bit, float and 1-bit images are refused, naming the file: no conversion
    of them is the image a network was trained on.
    """
    try:
        with Image.open(path) as img:
            if img.mode not in PHOTO_MODES:
                raise InputError(f"{path}: the image is {_mode_name(img.mode)}; photos must be 8-bit (RGB, greyscale "
                                 f"or palette). Convert it to 8-bit RGB.")
            return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: cannot be read as an image ({exc}). Re-create or remove the file.") from None


def load_label_ids(path: str | Path) -> np.ndarray:
    """Read a gtFine ``*_labelIds.png``: HxW uint8 Cityscapes labelIds."""
    array = read_png(path, ("L",), "a labelIds PNG", "Use the gtFine file as distributed.")
    if array.ndim != 2 or array.dtype != np.uint8:
        raise InputError(f"{path}: expected a single-channel 8-bit labelIds PNG, got shape {array.shape} dtype {array.dtype}.")
    return array


def load_train_ids(path: str | Path) -> np.ndarray:
    """Read a gtFine labelIds PNG and map it to trainIds: HxW uint8, 255 = void."""
    return LABEL_ID_TO_TRAIN_ID[load_label_ids(path)]


def load_instance_ids(path: str | Path) -> np.ndarray:
    """Read a gtFine ``*_instanceIds.png`` (16-bit) as HxW int32.

    Values >= 1000 are instances (``labelId * 1000 + index``); values below 1000
    are plain labelIds, which for thing classes mark crowd regions.
    """
    array = read_png_fast(path)
    if array.ndim != 2 or array.dtype != np.uint16:
        raise InputError(f"{path}: expected a single-channel 16-bit instanceIds PNG, got shape {array.shape} dtype "
                         f"{array.dtype}. An 8-bit or colour copy loses the instance ids (labelId * 1000 + index); "
                         f"use the gtFine file as distributed.")
    return array.astype(np.int32)


def instance_ids_of(train_ids: np.ndarray, instances: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
    """HxW int32 Cityscapes instanceIds of another dataset's GT given as trainIds and instance numbers.

    ``labelId * 1000 + n`` where a thing pixel has instance ``n`` >= 1, the plain
    labelId elsewhere (a thing pixel without instance is crowd, as in gtFine),
    and 0 (unlabeled, void) for trainId 255 and ``excluded`` pixels. So KITTI-STEP
    and BDD100K ground truth reach every evaluator through the one GT encoding
    they read. Instances of 1000 or more cannot be encoded: an InputError.
    """
    if instances.size and int(instances.max()) >= INSTANCE_OFFSET:
        raise InputError(f"instance number {int(instances.max())} does not fit Cityscapes' labelId * 1000 + n.")
    label_ids = np.zeros(256, np.int32)
    label_ids[:NUM_CLASSES] = TRAIN_ID_TO_LABEL_ID
    ids = label_ids[train_ids]
    thing = IS_THING[train_ids] & (instances > 0)
    ids[thing] = ids[thing] * INSTANCE_OFFSET + instances[thing]
    if excluded is not None:
        ids[excluded] = 0
    return ids


@dataclass(frozen=True)
class GroundTruth:
    """Ground truth of one image at its native resolution (evaluation only).

    ``train_ids``: HxW uint8, 255 = void. ``instance_ids``: HxW int32 as in the
    instanceIds PNG (>= 1000 instance, < 1000 labelId).
    """

    train_ids: np.ndarray
    instance_ids: np.ndarray

    @property
    def crowd(self) -> np.ndarray:
        """HxW bool: pixels of a thing class that belong to no single instance (crowd regions)."""
        return IS_THING[self.train_ids] & (self.instance_ids < INSTANCE_OFFSET)

    @property
    def void(self) -> np.ndarray:
        """HxW bool: pixels of no evaluated class."""
        return self.train_ids == IGNORE_ID


def load_ground_truth(label_ids_path: str | Path, instance_ids_path: str | Path) -> GroundTruth:
    """Read the two gtFine PNGs of one image and check they agree in size."""
    train_ids = load_train_ids(label_ids_path)
    instance_ids = load_instance_ids(instance_ids_path)
    if train_ids.shape != instance_ids.shape:
        raise InputError(
            f"{instance_ids_path}: size {instance_ids.shape} differs from {label_ids_path} {train_ids.shape}."
        )
    return GroundTruth(train_ids=train_ids, instance_ids=instance_ids)


# --------------------------------------------------------------------------- resizing


def _pil_nearest_indices(size_in: int, size_out: int) -> np.ndarray:
    """Source index Pillow's NEAREST resize picks for each output index along one axis.

    Computed by resizing an index ramp with Pillow itself, so the result is
    Pillow's own rounding (which differs from cv2/torch nearest).
    """
    ramp = Image.fromarray(np.arange(size_in, dtype=np.int32)[None, :])  # int32 -> mode "I"
    return np.array(ramp.resize((size_out, 1), Image.NEAREST), dtype=np.int64)[0]


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxW (or HxWxC) label array to ``size=(H, W)`` exactly as Pillow's NEAREST.

    Works for any dtype (uint8 ids, uint16/int32 instance ids); returns a new array.
    """
    height, width = size
    if array.shape[:2] == (height, width):
        return array.copy()
    rows = _pil_nearest_indices(array.shape[0], height)
    cols = _pil_nearest_indices(array.shape[1], width)
    return array[rows[:, None], cols[None, :]]


def _torch_nearest_indices(size_in: int, scale: float) -> np.ndarray:
    """Source index of each output index along one axis under ``F.interpolate(mode="nearest", scale_factor=scale)``.

    torch's rule (``aten/src/ATen/native/UpSample.h``): the output has
    ``floor(size_in * scale)`` entries; it copies when the sizes agree, halves
    the index when the output is exactly twice as long, and otherwise takes
    ``floor(i * float32(1 / scale))`` in float32, clamped to the input. For
    scale 0.5 that is rows 0, 2, 4, ... (Pillow would take 1, 3, 5, ...).
    """
    size_out = int(math.floor(size_in * scale))
    if size_out == size_in:
        return np.arange(size_out)
    if size_out == 2 * size_in:
        return np.arange(size_out) >> 1
    source = np.floor(np.arange(size_out, dtype=np.float32) * np.float32(1.0 / scale)).astype(np.int64)
    return np.minimum(source, size_in - 1)


def resize_nearest_scaled(array: np.ndarray, scale: float) -> np.ndarray:
    """Resize an HxW label array by ``scale`` exactly as torch's nearest interpolation (how CUPS resizes labels)."""
    if scale == 1.0:
        return array
    rows = _torch_nearest_indices(array.shape[0], scale)
    cols = _torch_nearest_indices(array.shape[1], scale)
    return array[rows[:, None], cols[None, :]]


def resize_bilinear(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an HxW float map to ``size=(H, W)`` with Pillow BILINEAR on float32.

    This is how the reference resizes depth maps that differ from the eval size.
    """
    height, width = size
    image = Image.fromarray(np.ascontiguousarray(array, dtype=np.float32))  # float32 -> mode "F"
    return np.array(image.resize((width, height), Image.BILINEAR), dtype=np.float32)


def colorize(train_ids: np.ndarray) -> np.ndarray:
    """HxW trainIds -> HxWx3 uint8 in the Cityscapes palette (void is black)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:NUM_CLASSES] = CLASS_COLORS
    return palette[train_ids]
