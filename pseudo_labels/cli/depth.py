"""SPIdepth depth maps for Cityscapes images: ``{output_dir}/{split}/{city}/{stem}.npy``.

    python pseudo_labels/generate_depth_spidepth.py --cityscapes_root R --split both

Reads ``leftImg8bit`` images only (no ground truth) and the official SPIdepth
checkpoint (``encoder.pth``, ``depth.pth`` in ``--checkpoint_dir``). Each map is
float32 HxW in [0, 1] (per-image min-max), written atomically; existing maps
are skipped, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.depth import spidepth as depth
from pseudo_labels.core import distributed
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import LOG_FORMAT, InputError, exit_on_input_error
from pseudo_labels.core.fileio import write_npy
from pseudo_labels.core.manifest import RunManifest, record_source, source_fingerprint, split_done
from pseudo_labels.core.parallel import shard
import refs  # the original's default checkpoint folder lives beside its SPIdepth code
from refs.spidepth.model import DEPTH_FILE, ENCODER_FILE, RELEASE, CheckpointError, load_spidepth
from refs.spidepth.unet import DEFAULT_BACKBONE
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("depth")

# Searched in this order when --checkpoint_dir is not given: the original repository's folder, then ours.
DEFAULT_CHECKPOINT_DIRS = (Path(refs.__file__).parent / "spidepth" / "checkpoints" / "cityscapes",
                           CHECKPOINT_DIR / "spidepth")


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
    """Also write every log record to ``path`` (appended) while the command runs, as the original's --log_file."""
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


class Frames(Dataset):
    """Network inputs of a list of images; a bad file yields its error message instead of raising in a worker."""

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


def _collate(items: list[tuple[int, torch.Tensor | None, str | None]]
             ) -> tuple[list[int], torch.Tensor | None, str | None]:
    """(indices, stacked inputs, None), or the first bad file's message (raised in the main process, not a worker)."""
    for _, _, error in items:
        if error:
            return [], None, error
    return [i for i, _, _ in items], torch.stack([x for _, x, _ in items]), None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/)")
    parser.add_argument("--split", default="both", choices=("train", "val", "both"), help="split(s) to process")
    parser.add_argument("--output_dir", type=Path, default=None, help=f"default: {{root}}/{cs.DEPTH_SUBDIR}")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help=f"folder with SPIdepth's {ENCODER_FILE} and {DEPTH_FILE} (default: the first of "
                             f"{', '.join(map(str, DEFAULT_CHECKPOINT_DIRS))} that holds them)")
    parser.add_argument("--device", default=None, help="cuda, cuda:1, cpu (default: cuda when available)")
    parser.add_argument("--target_size", type=int, nargs=2, default=cs.WORKING_SIZE, metavar=("H", "W"),
                        help="size of the written depth maps")
    parser.add_argument("--flip_augment", action="store_true", default=True,
                        help="average with the horizontal flip (on by default, as in the original)")
    parser.add_argument("--no_flip_augment", action="store_true", help="skip the horizontal-flip average")
    parser.add_argument("--log_file", type=Path, default=None, help="also append the log to this file")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="timm backbone the checkpoint was trained with")
    parser.add_argument("--batch_size", type=int, default=2, help="images per network batch (x2 with flips)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on CUDA (ignored on CPU)")
    parser.add_argument("--num_workers", type=int, default=2, help="processes decoding and resizing images")
    parser.add_argument("--limit", type=int, default=None, help="process only the first N images of each split")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute every map, also in a folder made with other settings")
    parser.add_argument("--crop_bottom", type=float, default=0.0,
                        help="fraction of the frame bottom (ego vehicle) not fed to the network; 0 = reference")
    return parser


def run_split(model: torch.nn.Module, root: Path, split: str, output_dir: Path, args: argparse.Namespace,
              device: torch.device, process: distributed.Process = distributed.Process()) -> int:
    """Write this process's depth maps of one split; returns how many were written (existing ones are skipped)."""
    images = cs.image_paths(root, split)
    keys = list(images)[: args.limit] if args.limit else list(images)
    keys = shard(keys, process.world, process.rank)
    outputs = {k: cs.output_path(output_dir, split, k, ".npy") for k in keys}
    fingerprints = {k: source_fingerprint(images[k]) for k in keys}
    done = split_done(outputs, fingerprints, args.overwrite, "depth maps")
    todo = [k for k in keys if k not in done]
    log.info("%s: %d images, %d already done, %d to compute", split, len(keys), len(keys) - len(todo), len(todo))
    if not todo:
        return 0
    loader = DataLoader(Frames([images[k] for k in todo], args.crop_bottom), batch_size=args.batch_size,
                        num_workers=args.num_workers, collate_fn=_collate)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if args.amp and device.type == "cuda"
                else contextlib.nullcontext())
    with tqdm(total=len(todo), desc=f"depth {split}", unit="img") as progress:
        for indices, batch, error in loader:
            if error:
                raise InputError(error)
            with autocast:
                raw = depth.predict(model, batch.to(device), flip=not args.no_flip_augment)
            for index, raw_map in zip(indices, raw):
                out = depth.normalised_depth(raw_map, args.target_size, args.crop_bottom)
                record_source(write_npy(outputs[todo[index]], out), fingerprints[todo[index]])
            progress.update(len(indices))
    return len(todo)


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with log_file(args.log_file):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """The command itself, after parsing (and with --log_file attached)."""
    if not 0.0 <= args.crop_bottom < 1.0:
        raise InputError(f"--crop_bottom must be in [0, 1), got {args.crop_bottom}.")
    if args.batch_size < 1:
        raise InputError("--batch_size must be at least 1.")
    root: Path = args.cityscapes_root
    output_dir = args.output_dir or root / cs.DEPTH_SUBDIR
    splits = ("train", "val") if args.split == "both" else (args.split,)
    for split in splits:  # fail on a missing or empty split before loading the network
        cs.image_paths(root, split)
    process, device = distributed.start(pick_device(args.device))
    if args.amp and device.type != "cuda":
        log.warning("--amp only applies on CUDA; running in float32 on %s", device)
    if args.checkpoint_dir is None:
        args.checkpoint_dir = default_checkpoint_dir()
    try:
        model = load_spidepth(args.checkpoint_dir, args.backbone)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    model = model.to(device)
    log.info("SPIdepth (%s) on %s, flip averaging %s", args.backbone, device, "off" if args.no_flip_augment else "on")
    manifest = RunManifest("depth", args)
    manifest.add_checkpoints({name: args.checkpoint_dir / name for name in (ENCODER_FILE, DEPTH_FILE)})
    settings = {"target_size": list(args.target_size), "flip": not args.no_flip_augment, "backbone": args.backbone,
                "crop_bottom": args.crop_bottom, "amp": args.amp and device.type == "cuda",
                "checkpoints": {k: v["sha256"] for k, v in manifest.record["checkpoints"].items()}}
    for split in splits:
        if process.leader:
            manifest.claim(output_dir / split, settings, args.overwrite)
        distributed.wait_for_all(process)
        written = run_split(model, root, split, output_dir, args, device, process)
        distributed.wait_for_all(process)
        if process.leader:
            manifest.write(output_dir / split, extra={"written_by_rank_0": written, "ranks": process.world,
                                                      "device": str(device)})
    distributed.finish(process)
    return 0
