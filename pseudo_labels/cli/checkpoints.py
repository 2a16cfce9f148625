"""``pseudo-labels checkpoints verify|download``: check a checkpoint folder, or fetch the files that have a source.

    pseudo-labels checkpoints verify --checkpoint_dir checkpoints
    pseudo-labels checkpoints download --checkpoint_dir checkpoints      # SPIdepth, from Hugging Face

``verify`` lists every official file of the layout in ``checkpoints/README.md``:
present or not, its size and sha256 (compared with the recorded hash where one
is known), and whether each network loads it strictly, with the same loaders
the stages use. Exit status 2 when a present file is damaged or does not fit.

``download`` is an explicit user action (no stage ever downloads): it fetches
the files that have a Hugging Face source with ``huggingface_hub`` (which
honours ``HF_ENDPOINT`` for mirrors) and moves them into place atomically.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import sha256_file
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("checkpoints")



@dataclass(frozen=True)
class OfficialFile:
    """One file of the checkpoint layout: where it goes, what it is, where it comes from."""

    path: str
    """Relative to the checkpoint folder."""
    network: str
    needed_by: str
    source: str
    sha256: str | None = None
    """Of the official file, where recorded (no release publishes one)."""
    hugging_face: tuple[str, str] | None = None
    """(repo id, file name) for ``download``."""


CAUSE_RELEASE = "CAUSE release (ByungKwanLee/Causal-Unsupervised-Segmentation), Cityscapes, DINOv2 ViT-B/14"
DINOV2_RELEASE = "DINOv2 release (facebookresearch/dinov2)"
SPIDEPTH_HF_REPO = "MykolaL/SPIdepth"
"""The Hugging Face repository the original's download_spidepth.py reads."""

FILES: tuple[OfficialFile, ...] = (
    OfficialFile("dinov2_vitb14_pretrain.pth", "DINOv2 ViT-B/14 backbone", "semantics, cause27", DINOV2_RELEASE),
    OfficialFile("segment_tr.pth", "CAUSE Segment_TR head", "semantics, cause27", CAUSE_RELEASE),
    OfficialFile("modular.npy", "CAUSE modularity codebook (2048 x 768)", "semantics, cause27", CAUSE_RELEASE),
    OfficialFile("cluster_tr.pth", "CAUSE cluster probe (27 x 90)", "cause27", CAUSE_RELEASE),
    OfficialFile("dinov2_vitb14_reg4_pretrain.pth", "DINOv2 ViT-B/14 with 4 registers", "dinov2-features",
                 DINOV2_RELEASE),
    OfficialFile("spidepth/encoder.pth", "SPIdepth encoder (ConvNeXtV2-H U-Net)", "depth",
                 "SPIdepth release (Lavreniuk/SPIdepth), Cityscapes", hugging_face=(SPIDEPTH_HF_REPO,
                                                                                     "cityscapes/encoder.pth")),
    OfficialFile("spidepth/depth.pth", "SPIdepth query-transformer decoder", "depth",
                 "SPIdepth release (Lavreniuk/SPIdepth), Cityscapes", hugging_face=(SPIDEPTH_HF_REPO,
                                                                                     "cityscapes/depth.pth")),
)


@dataclass(frozen=True)
class Network:
    """Files that one loader reads together, and how to load them (raises on any mismatch)."""

    name: str
    files: tuple[str, ...]
    load: Callable[[Path, argparse.Namespace], object]


def _load_cause(folder: Path, args: argparse.Namespace) -> object:
    from refs.cause.model import load_cause

    return load_cause(folder)


def _load_probe(folder: Path, args: argparse.Namespace) -> object:
    from refs.cause.model import load_cluster_probe

    return load_cluster_probe(folder)


def _load_registers(folder: Path, args: argparse.Namespace) -> object:
    from pseudo_labels.semantics.dinov2_tokens import REGISTER_FILE, load_backbone

    return load_backbone(folder / REGISTER_FILE)


def _load_spidepth(folder: Path, args: argparse.Namespace) -> object:
    from refs.spidepth.model import load_spidepth

    return load_spidepth(folder / "spidepth", args.spidepth_backbone)


NETWORKS: tuple[Network, ...] = (
    Network("CAUSE features (semantics)", ("dinov2_vitb14_pretrain.pth", "segment_tr.pth", "modular.npy"),
            _load_cause),
    Network("CAUSE cluster probe (cause27)", ("cluster_tr.pth",), _load_probe),
    Network("DINOv2 with registers (dinov2-features)", ("dinov2_vitb14_reg4_pretrain.pth",), _load_registers),
    Network("SPIdepth (depth)", ("spidepth/encoder.pth", "spidepth/depth.pth"), _load_spidepth),
)


@dataclass(frozen=True)
class FileReport:
    """What ``verify`` found for one file."""

    file: OfficialFile
    size: int | None
    sha256: str | None

    @property
    def hash_status(self) -> str:
        if self.sha256 is None:
            return "missing"
        if self.file.sha256 is None:
            return "no recorded hash"
        return "matches" if self.sha256 == self.file.sha256 else "DIFFERS from the recorded hash"


def inspect_files(folder: Path) -> list[FileReport]:
    """Size and sha256 of every official file present in ``folder``."""
    reports = []
    for entry in FILES:
        path = folder / entry.path
        present = path.is_file()
        reports.append(FileReport(entry, path.stat().st_size if present else None,
                                  sha256_file(path) if present else None))
    return reports


def load_networks(folder: Path, args: argparse.Namespace) -> list[tuple[Network, str]]:
    """Each network's verdict: "loads strictly", "not checked: ... missing", or the loader's error."""
    verdicts = []
    for network in NETWORKS:
        missing = [name for name in network.files if not (folder / name).is_file()]
        if missing:
            verdicts.append((network, f"not checked: {', '.join(missing)} missing"))
            continue
        try:
            network.load(folder, args)
        except Exception as exc:  # noqa: BLE001 - every loader error is a verdict, not a crash
            verdicts.append((network, f"FAILS: {exc}"))
        else:
            verdicts.append((network, "loads strictly"))
    return verdicts


def verify(args: argparse.Namespace) -> int:
    """Print the table of files and networks; 2 when a present file is damaged, does not fit or differs."""
    folder: Path = args.checkpoint_dir
    if not folder.is_dir():
        raise InputError(f"{folder}: no such checkpoint folder. Pass --checkpoint_dir (layout: checkpoints/README.md).")
    reports = inspect_files(folder)
    print(f"checkpoint folder {folder}")
    width = max(len(r.file.path) for r in reports)
    for report in reports:
        size = "-" if report.size is None else f"{report.size:,} B"
        digest = report.sha256 or "-"
        print(f"  {report.file.path:<{width}}  {size:>16}  {digest}  ({report.hash_status})")
    verdicts = load_networks(folder, args)
    for network, verdict in verdicts:
        print(f"  {network.name}: {verdict}")
    bad = [r for r in reports if r.hash_status.startswith("DIFFERS")] + [v for v in verdicts if v[1].startswith("FAILS")]
    if not any(r.size is not None for r in reports):
        print(f"no official file found in {folder}", file=sys.stderr)
        return 2
    return 2 if bad else 0


def download(args: argparse.Namespace) -> int:
    """Fetch every file with a Hugging Face source into the folder (existing equal files are kept)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError("download needs huggingface_hub: pip install huggingface_hub.") from None
    folder: Path = args.checkpoint_dir
    endpoint = os.environ.get("HF_ENDPOINT") or None
    for entry in FILES:
        if entry.hugging_face is None:
            continue
        target = folder / entry.path
        if target.is_file() and not args.overwrite:
            log.info("%s exists; kept (--overwrite to fetch it again)", target)
            continue
        repo, name = entry.hugging_face
        target.parent.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s/%s -> %s", repo, name, target)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".pl-download-") as scratch:
            try:
                fetched = hf_hub_download(repo, name, local_dir=scratch, endpoint=endpoint)
            except Exception as exc:  # noqa: BLE001 - network and hub errors become one message
                raise InputError(f"{repo}/{name}: download failed ({type(exc).__name__}: {exc}). Check the network "
                                 f"or HF_ENDPOINT, or put the file at {target} by hand.") from None
            shutil.move(fetched, target)  # same filesystem: a rename, so the file appears whole
        log.info("%s: %s", target, sha256_file(target))
    sources = ", ".join(f.path for f in FILES if f.hugging_face is None)
    log.info("no download source for %s: get them from the releases named in checkpoints/README.md", sources)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check the files of a checkpoint folder", formatter_class=HelpFormatter)
    check.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR, help="the folder to check")
    check.add_argument("--spidepth_backbone", default=None,
                       help="timm backbone the SPIdepth files were trained with (default: the official ConvNeXtV2-H)")
    fetch = commands.add_parser("download", help="fetch the files that have a Hugging Face source",
                                formatter_class=HelpFormatter)
    fetch.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR, help="where the files go")
    fetch.add_argument("--overwrite", action="store_true", help="fetch files that are already there again")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "verify":
        if args.spidepth_backbone is None:
            from refs.spidepth.model import DEFAULT_BACKBONE

            args.spidepth_backbone = DEFAULT_BACKBONE
        return verify(args)
    return download(args)
