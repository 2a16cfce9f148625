"""The images of a dataset, whatever its layout: one small interface, one module per layout.

A layout answers two questions: which frames a split holds (``key -> image
path``, sorted by key) and in which folder they lie (where no output may go).
Every frame is read the same way, 8-bit RGB at any size
(:func:`~pseudo_labels.data.cityscapes.read_rgb`), and its outputs go where every
layout's go: a key is the frame's path below the split's image folder without
the layout's image suffix, in POSIX form (``frankfurt/frankfurt_000000_000294``
for Cityscapes, ``drive_a/0000000012`` for a folder), so keys keep sub-folders
apart and every stage writes ``{output folder}/{split}/{key}{suffix}``
(:func:`~pseudo_labels.data.cityscapes.output_path`).

Layouts: ``cityscapes`` (:mod:`pseudo_labels.data.cityscapes`, every current
path unchanged), ``folder`` (:mod:`pseudo_labels.data.folder`: a plain folder of images, searched recursively),
``kitti_raw`` and ``kitti_step`` (:mod:`pseudo_labels.data.kitti`) and ``bdd100k``
(:mod:`pseudo_labels.data.bdd100k`). The ``semantics`` stage reads its frames
through this interface (``--layout``, ``--image_root``); the other stages follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.bdd100k import Bdd100kLayout
from pseudo_labels.data.folder import FolderLayout
from pseudo_labels.data.kitti import KittiRawLayout, KittiStepLayout

MIN_SHORT_SIDE = 322
"""One CAUSE/DINOv2 window (322 px): a smaller image would be enlarged past its own detail."""


class Layout(Protocol):
    """Where a dataset's images are, and where the outputs of each go."""

    name: str

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        """``key -> image path`` of one split, sorted by key; an empty or missing split is an InputError."""
        ...

    def images_folder(self, root: Path, split: str) -> Path:
        """The folder a split's images lie in: no output may be written inside it."""
        ...


@dataclass(frozen=True)
class CityscapesLayout:
    """``{root}/leftImg8bit/{split}/{city}/{stem}_leftImg8bit.png``, keyed ``city/stem``."""

    name: str = "cityscapes"

    def frames(self, root: Path, split: str) -> dict[str, Path]:
        return cs.image_paths(root, split)

    def images_folder(self, root: Path, split: str) -> Path:
        return Path(root) / "leftImg8bit" / split


LAYOUTS: Mapping[str, Layout] = {layout.name: layout for layout in (
    CityscapesLayout(), FolderLayout(), KittiRawLayout(), KittiStepLayout(), Bdd100kLayout())}
"""Every layout, by the name ``--layout`` takes."""


def layout_named(name: str) -> Layout:
    """The layout called ``name``; an unknown name is an InputError listing the known ones."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise InputError(f"unknown layout {name!r}: one of {sorted(LAYOUTS)}.") from None


@dataclass(frozen=True)
class FrameSource:
    """Where a run's images are: a layout's name and the folder it reads (None: the Cityscapes root of the run).

    The stages after ``semantics`` and ``depth`` find their frames by the maps
    those wrote; they need the source only where the images matter: the CUPS
    export links them, the panoptic export lists them, and both give frames of
    other layouts their own sizes.
    """

    layout: str = "cityscapes"
    root: Path | None = None

    @property
    def is_cityscapes(self) -> bool:
        """The Cityscapes layout, whose paths and sizes stay the reference's."""
        return self.layout == "cityscapes"

    def frames(self, split: str, default_root: Path) -> dict[str, Path]:
        """``key -> image path`` of a split (see :meth:`Layout.frames`); ``default_root`` when no root was given."""
        return layout_named(self.layout).frames(self.root or default_root, split)

    def images_folder(self, split: str, default_root: Path) -> Path:
        """The folder a split's images lie in (see :meth:`Layout.images_folder`)."""
        return layout_named(self.layout).images_folder(self.root or default_root, split)

    def images_of(self, maps: Mapping[str, Path], split: str, default_root: Path) -> dict[str, Path]:
        """The image of every map's frame (``key -> image``); a map whose frame has no image (made from other
        images, or another --image_root) is an InputError naming it."""
        found = self.frames(split, default_root)
        strays = [key for key in maps if key not in found]
        if strays:
            raise InputError(f"{maps[strays[0]]}: no image of frame {strays[0]!r} under "
                             f"{self.images_folder(split, default_root)} ({len(strays)} such map(s)); pass the "
                             f"--layout and --image_root the semantics were made from.")
        return {key: found[key] for key in maps}


def cityscapes_names(keys: Sequence[str]) -> dict[str, str]:
    """A Cityscapes-style name (``{city}_{seq:06d}_{frame:06d}``) for every frame key, unique, in key order.

    Flat outputs (the panoptic JSON's ``image_id``, CUPS' label files and the
    image links it reads) need one name per frame, and CUPS and cityscapesscripts
    parse Cityscapes names. A Cityscapes key keeps its stem. Other keys: ``city``
    is the key's first folder in lower-case letters and digits (``frames`` for a
    top-level file), ``seq`` numbers the folders that share that city, ``frame``
    numbers the frames of a folder, both in sorted order. Two keys that would
    share a name are an InputError.
    """
    names: dict[str, str] = {}
    folders: dict[str, dict[str, int]] = {}  # city -> folder -> seq
    counts: dict[str, int] = {}  # folder -> frames so far
    for key in sorted(keys):
        parts = key.split("/")
        if len(parts) == 2 and cs.is_cityscapes_stem(parts[0], parts[1]):
            names[key] = parts[1]
            continue
        folder = "/".join(parts[:-1])
        city = re.sub(r"[^a-z0-9]", "", parts[0].lower()) if len(parts) > 1 else ""
        city = city or "frames"
        seq = folders.setdefault(city, {}).setdefault(folder, len(folders[city]))
        frame = counts.get(folder, 0)
        counts[folder] = frame + 1
        if max(seq, frame) >= 10**6:
            raise InputError(f"frame {key!r}: more than 999999 frames or folders under {city!r}.")
        names[key] = f"{city}_{seq:06d}_{frame:06d}"
    seen: dict[str, str] = {}
    for key, name in names.items():
        if name in seen:
            raise InputError(f"frames {seen[name]!r} and {key!r} would share the name {name}: rename one of them.")
        seen[name] = key
    return names


def working_size(height: int, width: int) -> tuple[int, int]:
    """(H, W) the pipeline works at for a frame of ``height`` x ``width``: the short side at the Cityscapes working
    height (512), the long side in proportion, rounded. Cityscapes' 1024x2048 -> 512x1024 (:data:`cs.WORKING_SIZE`),
    KITTI's 375x1242 -> 512x1696, a 640x360 portrait frame -> 910x512."""
    short = cs.WORKING_SIZE[0]
    scale = short / min(height, width)
    return (short, round(width * scale)) if height <= width else (round(height * scale), short)


def frame_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image from its header; a zero-byte, unreadable or too small image is an InputError naming it."""
    try:
        if path.stat().st_size == 0:
            raise InputError(f"{path}: zero-byte image. Re-copy it or remove it.")
        with Image.open(path) as image:
            height, width = image.height, image.width
    except FileNotFoundError:
        raise InputError(f"{path}: file not found.") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(f"{path}: cannot be read as an image ({exc}). Re-copy it or remove it.") from None
    if min(height, width) < MIN_SHORT_SIDE:
        raise InputError(f"{path}: {height}x{width}, smaller than one {MIN_SHORT_SIDE}-px CAUSE window on its short "
                         f"side; the features would be of an enlarged blur. Use images of at least "
                         f"{MIN_SHORT_SIDE} px on each side.")
    return height, width


def frame_sizes(frames: Mapping[str, Path]) -> dict[str, tuple[int, int]]:
    """(H, W) of every frame, read from the headers before any work: bad images stop the run first."""
    return {key: frame_size(path) for key, path in frames.items()}
