"""A checkpoint folder's official files: their sizes and hashes, and fetching the ones that have a source.

The table of files (paths, releases, Hugging Face sources) and the strict
loaders live with the networks, in :mod:`refs.official_files`, which imports
nothing of this package; this module adds what needs the package's file
helpers: sha256 of what is there, and the atomic download. Downloading is an
explicit user action (``pseudo-labels checkpoints download``): no stage ever
downloads.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import sha256_file
from refs.official_files import FILES, OfficialFile

log = logging.getLogger("checkpoints")


@dataclass(frozen=True)
class FileReport:
    """What was found for one official file: its size and sha256, None when absent."""

    file: OfficialFile
    size: int | None
    sha256: str | None

    @property
    def hash_status(self) -> str:
        """One of: missing, no recorded hash, matches, DIFFERS from the recorded hash."""
        if self.sha256 is None:
            return "missing"
        if self.file.sha256 is None:
            return "no recorded hash"
        return "matches" if self.sha256 == self.file.sha256 else "DIFFERS from the recorded hash"


def inspect_files(folder: Path) -> list[FileReport]:
    """Size and sha256 of every official file present in ``folder`` (in the order of :data:`FILES`)."""
    reports = []
    for entry in FILES:
        path = folder / entry.path
        present = path.is_file()
        reports.append(FileReport(entry, path.stat().st_size if present else None,
                                  sha256_file(path) if present else None))
    return reports


def download_official_files(folder: Path, overwrite: bool = False, datasets: tuple[str, ...] = ("cityscapes",)
                            ) -> list[Path]:
    """Fetch every official file with a Hugging Face source, trained on one of ``datasets``, into ``folder``;
    returns the files written.

    Existing files are kept unless ``overwrite``. Each file is downloaded into a
    scratch folder beside its target and moved into place (a rename on the same
    filesystem), so a file appears whole or not at all. ``HF_ENDPOINT`` selects
    a mirror. Files without a source are named in the log.
    """
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise InputError("download needs huggingface_hub: pip install huggingface_hub.") from None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    written = []
    for entry in FILES:
        if entry.hugging_face is None or entry.dataset not in datasets:
            continue
        target = folder / entry.path
        if target.is_file() and not overwrite:
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
        written.append(target)
    sources = ", ".join(f.path for f in FILES if f.hugging_face is None)
    log.info("no download source for %s: get them from the releases named in checkpoints/README.md", sources)
    return written
