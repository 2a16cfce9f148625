"""SPIdepth depth maps of whole splits: ``{output_dir}/{split}/{key}.npy`` (Cityscapes: ``{city}/{stem}``).

The ``depth`` stage's library side: find the checkpoint, read and batch the
frames (decoding in worker processes), run :mod:`pseudo_labels.depth.spidepth`
and write each map atomically with a record of the image it was made from, so
an interrupted run resumes where it stopped and a changed image is recomputed.
Under ``torchrun`` each rank takes every WORLD_SIZE-th image; rank 0 claims the
output folder and writes the manifest.

Frames of other layouts (``layout``: a folder of photos, KITTI, BDD100K) may
have any size: the network sees each at its training size (as every frame), and
the map is written at the frame's own working size
(:func:`~pseudo_labels.data.frames.working_size`), where its instances are split.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

import refs  # the original's default checkpoint folder lives beside its SPIdepth code
from pseudo_labels.core import distributed
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import LOG_FORMAT, InputError
from pseudo_labels.core.fileio import write_npy
from pseudo_labels.core.manifest import RunManifest, RunOutputs, record_source, source_fingerprint, split_done
from pseudo_labels.core.parallel import first_n, shard
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data import frames
from pseudo_labels.depth import spidepth as depth
from refs.checkpoints import CHECKPOINT_DIR
from refs.spidepth.model import DEPTH_FILE, ENCODER_FILE, RELEASE, CheckpointError, load_spidepth
from refs.spidepth.unet import DEFAULT_BACKBONE

log = logging.getLogger("depth")

DEFAULT_CHECKPOINT_DIRS = (Path(refs.__file__).parent / "spidepth" / "checkpoints" / "cityscapes",
                           CHECKPOINT_DIR / "spidepth")
"""Searched in this order when no checkpoint folder is given: the original repository's folder, then ours."""


def default_checkpoint_dir() -> Path:
    """The first default folder holding both SPIdepth files; an InputError naming every folder searched otherwise."""
    for folder in DEFAULT_CHECKPOINT_DIRS:
        if all((folder / name).is_file() for name in (ENCODER_FILE, DEPTH_FILE)):
            return folder
    searched = " and ".join(str(folder) for folder in DEFAULT_CHECKPOINT_DIRS)
    raise InputError(f"SPIdepth checkpoint not found: neither {searched} holds {ENCODER_FILE} and {DEPTH_FILE}. "
                     f"Put {RELEASE} there or pass --checkpoint_dir.")


@contextlib.contextmanager
def log_file(path: Path | None) -> Iterator[None]:
    """Also write every log record to ``path`` (appended) while the block runs, as the original's --log_file."""
    if path is None:
        yield
        return
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    level = root.level
    root.setLevel(min(level, logging.INFO))  # the file gets the INFO log even where stderr was set quieter
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        handler.close()


@dataclass(frozen=True, kw_only=True)
class DepthOptions:
    """The ``depth`` stage's settings: one field per command-line flag, same names, order and defaults.

    The manifest records them as the command's arguments (with the checkpoint
    folder resolved), so a caller that builds them gets the manifest the
    command line writes. ``flip_augment`` and ``log_file`` are recorded only:
    flipping is on unless ``no_flip_augment``, and the log file is attached by
    whoever runs the stage (:func:`log_file`).
    """

    cityscapes_root: Path
    split: str = "both"
    """train, val or both."""
    output_dir: Path | None = None
    """None: ``{cityscapes_root}/depth_spidepth``."""
    checkpoint_dir: Path | None = None
    """None: the first of :data:`DEFAULT_CHECKPOINT_DIRS` that holds both files."""
    device: str | None = None
    target_size: Sequence[int] = cs.WORKING_SIZE
    """(H, W) of the written maps."""
    flip_augment: bool = True
    no_flip_augment: bool = False
    log_file: Path | None = None
    backbone: str = DEFAULT_BACKBONE
    batch_size: int = 2
    amp: bool = False
    num_workers: int = 2
    limit: int | None = None
    overwrite: bool = False
    crop_bottom: float = 0.0
    layout: str = "cityscapes"
    """How the images are laid out (:data:`pseudo_labels.data.frames.LAYOUTS`)."""
    image_root: Path | None = None
    """Where the images are, in ``layout``; None: ``cityscapes_root``. The maps go under ``cityscapes_root``."""

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits to process, in order."""
        return ("train", "val") if self.split == "both" else (self.split,)

    @property
    def images_root(self) -> Path:
        """The folder the layout reads the images from."""
        return self.image_root or self.cityscapes_root


@dataclass(frozen=True)
class FramePlan:
    """Where a frame is and the (H, W) its map is written at."""

    path: Path
    target_size: tuple[int, int]


def plan_frames(options: DepthOptions, split: str) -> dict[str, FramePlan]:
    """Every frame of a split (the first ``limit``) with its map's size: ``target_size`` for Cityscapes; for other
    layouts each frame's working size, read from its header (so a bad or too small image is an InputError before
    any work)."""
    images = frames.layout_named(options.layout).frames(options.images_root, split)
    keys = first_n(images, options.limit)
    if options.layout == "cityscapes":
        target = (int(options.target_size[0]), int(options.target_size[1]))
        return {k: FramePlan(images[k], target) for k in keys}
    return {k: FramePlan(images[k], frames.working_size(*frames.frame_size(images[k]))) for k in keys}


class Frames(Dataset):
    """Network inputs of a list of frames; a bad file yields its error message instead of raising in a worker."""

    def __init__(self, paths: Sequence[Path], crop_bottom: float) -> None:
        self.paths = list(paths)
        self.crop_bottom = crop_bottom

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            rgb = cs.read_rgb(self.paths[index])
        except InputError as exc:
            return index, None, str(exc)
        return index, torch.from_numpy(depth.network_input(rgb, self.crop_bottom)), None


def collate_frames(items: list[tuple[int, torch.Tensor | None, str | None]]
                   ) -> tuple[list[int], torch.Tensor | None, str | None]:
    """(indices, stacked inputs, None), or the first bad file's message (raised in the main process, not a worker)."""
    for _, _, error in items:
        if error:
            return [], None, error
    return [i for i, _, _ in items], torch.stack([x for _, x, _ in items]), None


def run_split(model: torch.nn.Module, plans: Mapping[str, FramePlan], split: str, output_dir: Path,
              options: DepthOptions, device: torch.device, process: distributed.Process = distributed.Process()) -> int:
    """Write this process's depth maps of one split; returns how many were written (current ones are skipped)."""
    keys = shard(list(plans), process.world, process.rank)
    outputs = {k: cs.output_path(output_dir, split, k, ".npy") for k in keys}
    fingerprints = {k: source_fingerprint(plans[k].path) for k in keys}
    done = split_done(outputs, fingerprints, options.overwrite, "depth maps")
    todo = [k for k in keys if k not in done]
    log.info("%s: %d images, %d already done, %d to compute", split, len(keys), len(keys) - len(todo), len(todo))
    if not todo:
        return 0
    loader = DataLoader(Frames([plans[k].path for k in todo], options.crop_bottom), batch_size=options.batch_size,
                        num_workers=options.num_workers, collate_fn=collate_frames)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if options.amp and device.type == "cuda"
                else contextlib.nullcontext())
    with tqdm(total=len(todo), desc=f"depth {split}", unit="img") as progress:
        for indices, batch, error in loader:
            if error:
                raise InputError(error)
            with autocast:
                raw = depth.predict(model, batch.to(device), flip=not options.no_flip_augment)
            for index, raw_map in zip(indices, raw):
                key = todo[index]
                out = depth.normalised_depth(raw_map, plans[key].target_size, options.crop_bottom)
                record_source(write_npy(outputs[key], out), fingerprints[key])
            progress.update(len(indices))
    return len(todo)


def write_depth_maps(options: DepthOptions) -> dict[str, int]:
    """The ``depth`` stage: every split's maps and manifest; returns how many maps this process wrote per split.

    Every split's images are listed (and checked) before the network loads; a
    missing or unfitting checkpoint is an :class:`InputError`. ``options`` are
    not checked here: ``batch_size`` >= 1 and ``crop_bottom`` in [0, 1).
    """
    root = options.cityscapes_root
    output_dir = options.output_dir or root / cs.DEPTH_SUBDIR
    layout = frames.layout_named(options.layout)
    if options.checkpoint_dir is None:
        options = replace(options, checkpoint_dir=default_checkpoint_dir())
    # every split listed (and other layouts' headers read) before the network loads: bad input stops the run first
    plans = {split: plan_frames(options, split) for split in options.splits}
    process, device = distributed.start(pick_device(options.device))
    if options.amp and device.type != "cuda":
        log.warning("--amp only applies on CUDA; running in float32 on %s", device)
    try:
        model = load_spidepth(options.checkpoint_dir, options.backbone)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    model = model.to(device)
    log.info("SPIdepth (%s) on %s, flip averaging %s", options.backbone, device,
             "off" if options.no_flip_augment else "on")
    manifest = RunManifest("depth", asdict(options))
    manifest.add_checkpoints({name: options.checkpoint_dir / name for name in (ENCODER_FILE, DEPTH_FILE)})
    settings = {"target_size": list(options.target_size), "flip": not options.no_flip_augment,
                "backbone": options.backbone, "crop_bottom": options.crop_bottom,
                "amp": options.amp and device.type == "cuda",
                "checkpoints": {k: v["sha256"] for k, v in manifest.record["checkpoints"].items()}}
    if options.layout != "cityscapes":  # the maps follow each frame's size: recorded, so a change is another run
        settings["target_size"] = "working size of each frame"
    written = {}
    for split in options.splits:
        if process.leader:
            manifest.claim(output_dir / split, settings, options.overwrite,
                           inputs=(layout.images_folder(options.images_root, split),),
                           outputs=RunOutputs.of(("**/*.npy",), (cs.output_path(output_dir, split, k, ".npy")
                                                                for k in plans[split])))
        distributed.wait_for_all(process)
        written[split] = run_split(model, plans[split], split, output_dir, options, device, process)
        distributed.wait_for_all(process)
        if process.leader:
            manifest.write(output_dir / split, extra={"written_by_rank_0": written[split], "ranks": process.world,
                                                      "device": str(device)})
    distributed.finish(process)
    return written
