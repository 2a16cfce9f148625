"""Run manifests: what produced an output folder.

A manifest (``manifest.json`` beside the outputs) records the command, its
arguments, the versions of the packages that shape the numbers, the git
revision of this toolkit when it runs from a checkout, the sha256 of inputs and
checkpoints, and wall-clock timing. Timing lives only here, so the outputs
themselves are byte-identical across reruns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import check_not_an_input, remove_stale_temp_files, sha256_file, sha256_files, write_json, write_text

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"

RECORDED_PACKAGES = (
    "pseudo-labels",
    "numpy",
    "scipy",
    "pillow",
    "opencv-python-headless",
    "scikit-learn",
    "torch",
    "torchvision",
    "timm",
    "cityscapesscripts",
)


def package_versions(names: Sequence[str] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution (None when not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision(path: Path = Path(__file__).resolve().parent) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the checkout holding ``path``, or None outside a git work tree."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": bool(status.strip())}


def arguments_dict(args: argparse.Namespace | Mapping[str, Any]) -> dict[str, Any]:
    """Command-line arguments as JSON-friendly values (paths as strings, tuples as lists)."""
    items = vars(args).items() if isinstance(args, argparse.Namespace) else args.items()

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {key: plain(value) for key, value in items}


def describe_files(files: Mapping[str, str | Path | Sequence[str | Path]], root: str | Path | None = None) -> dict:
    """Hashes of named inputs: one file -> ``{"path", "sha256"}``; a list -> ``{"count", "sha256"}``."""
    described: dict[str, Any] = {}
    for name, value in files.items():
        if isinstance(value, (str, Path)):
            described[name] = {"path": str(value), "sha256": sha256_file(value)}
        else:
            paths = list(value)
            described[name] = {"count": len(paths), "sha256": sha256_files(paths, root)}
    return described


@dataclass(frozen=True)
class RunOutputs:
    """The per-image files a run writes under its folder.

    ``patterns``: globs, relative to the folder, that match every file of the
    kinds the stage writes there; ``paths``: the files this run writes (all
    shards' and ranks' together). With ``--overwrite``, :meth:`RunManifest.claim`
    removes the files the patterns match that are not among ``paths``: an
    earlier run over more images (or another ``--limit``) must not leave its
    files under a manifest that claims the new settings.
    """

    patterns: tuple[str, ...]
    paths: frozenset[Path]

    @classmethod
    def of(cls, patterns: Sequence[str], paths: Iterable[str | Path]) -> "RunOutputs":
        """Build from any iterable of paths."""
        return cls(tuple(patterns), frozenset(Path(p) for p in paths))


def remove_replaced(folder: Path, outputs: RunOutputs) -> int:
    """Remove the files under ``folder`` that ``outputs.patterns`` match and the run does not write (and their
    source records); returns how many outputs were removed."""
    keep = {Path(p).absolute() for p in outputs.paths}
    removed = 0
    for pattern in outputs.patterns:
        for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
            if path.is_file() and not path.name.startswith(".") and path.absolute() not in keep:
                path.unlink()
                source_record_path(path).unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("--overwrite: removed %d file(s) in %s that this run does not write", removed, folder)
    return removed


class RunManifest:
    """Collects a run's provenance; :meth:`write` adds the finish time and writes it atomically.

    Usage::

        manifest = RunManifest("sweep", args)
        manifest.add_inputs({"semantic": png_paths, "centroids": npz_path}, root=cityscapes_root)
        ...  # do the work
        manifest.write(output_folder)
    """

    def __init__(self, command: str, args: argparse.Namespace | Mapping[str, Any]) -> None:
        self._start = time.monotonic()
        self.record: dict[str, Any] = {
            "command": command,
            "argv": list(sys.argv),
            "arguments": arguments_dict(args),
            "versions": package_versions(),
            "git": git_revision(),
            "inputs": {},
            "checkpoints": {},
            "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }

    def add_inputs(self, files: Mapping[str, str | Path | Sequence[str | Path]], root: str | Path | None = None) -> None:
        """Hash input files (single paths or lists of paths) into the manifest."""
        self.record["inputs"].update(describe_files(files, root))

    def add_checkpoints(self, files: Mapping[str, str | Path]) -> None:
        """Hash checkpoint files into the manifest."""
        self.record["checkpoints"].update(describe_files(files))

    def claim(self, folder: str | Path, settings: Mapping[str, Any], overwrite: bool = False,
              name: str = MANIFEST_NAME, inputs: Sequence[str | Path | None] = (),
              outputs: RunOutputs | None = None) -> bool:
        """Before writing into ``folder``: refuse to mix its outputs with ones made under other settings.

        ``settings`` are the arguments (and input hashes) that change the
        outputs; the real paths of ``inputs`` are recorded among them, so a
        run from other input folders is not mistaken for a resume. When a
        manifest in ``folder`` (complete or left by a killed run) holds
        different settings, stop with a message naming them, unless
        ``overwrite``. The claim is recorded at once, so a run killed later
        still marks the folder. Returns True when an earlier run with the same
        settings left outputs there (a resume). An output folder that is, or
        lies inside, one of ``inputs`` is refused before anything is written.
        With ``overwrite``, the files of ``outputs``' kinds that this run does
        not write are removed (see :class:`RunOutputs`).
        """
        folder = Path(folder)
        check_not_an_input(folder, inputs, "the output folder")
        read_from = sorted(os.path.realpath(p) for p in inputs if p is not None)  # the folders and files read
        current = json.loads(json.dumps({**settings, "inputs": read_from}, default=str))  # as it will read back
        previous = []
        for path in sorted(folder.glob("manifest*.json")) if folder.is_dir() else []:
            try:
                previous.append((path, json.loads(path.read_text()).get("settings")))
            except (OSError, ValueError):
                continue
        for path, earlier in previous:
            if earlier is not None and earlier != current and not overwrite:
                changed = [k for k in sorted(set(earlier) | set(current)) if earlier.get(k) != current.get(k)]
                shown = "; ".join(f"{k}: {earlier.get(k)!r} there, {current.get(k)!r} now" for k in changed[:5])
                raise InputError(f"{folder} holds outputs made with other settings ({shown}; see {path.name}). "
                                 f"Use a new output folder, or pass --overwrite to recompute everything.")
        self.record["settings"] = current
        self.record["complete"] = False
        write_json(folder / name, self.record)
        remove_stale_temp_files(folder)
        if overwrite and outputs is not None:
            remove_replaced(folder, outputs)
        return any(earlier == current for _, earlier in previous) and not overwrite

    def write(self, folder: str | Path, extra: Mapping[str, Any] | None = None, name: str = MANIFEST_NAME) -> Path:
        """Write ``{folder}/{name}`` with timing and any ``extra`` fields (e.g. per-stage timings)."""
        record = dict(self.record)
        record["complete"] = True
        record["finished_at"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        record["elapsed_s"] = round(time.monotonic() - self._start, 3)
        if extra:
            record.update(extra)
        return write_json(Path(folder) / name, record)


# --------------------------------------------------------------------------- per-output sources

SOURCE_SUFFIX = ".source"
"""Suffix of the hidden file beside an output that names what the output was made from."""


def source_record_path(output: str | Path) -> Path:
    """The hidden record beside ``output`` (``.{stem}.source``: no loader globbing ``*.npy`` or ``*.png`` sees it)."""
    output = Path(output)
    return output.with_name(f".{output.stem}{SOURCE_SUFFIX}")


def source_fingerprint(*inputs: str | Path) -> str:
    """What an output depends on, as one line: the sha256 of each input file's bytes."""
    return " ".join(sha256_file(path) for path in inputs)


def made_from(output: str | Path, fingerprint: str) -> bool:
    """True when ``output`` exists and its record says it was made from inputs with this fingerprint.

    Outputs without a record (from an older version, or a run killed between
    writing the output and its record) count as not made from it: recompute them.
    """
    record = source_record_path(output)
    if not Path(output).is_file() or not record.is_file():
        return False
    try:
        return record.read_text().strip() == fingerprint
    except (OSError, UnicodeDecodeError):
        return False


def record_source(output: str | Path, fingerprint: str) -> None:
    """After ``output`` is written: note what it was made from (so a resumed run can tell stale from current)."""
    write_text(source_record_path(output), fingerprint + "\n")


def split_done(outputs: Mapping[str, Path], fingerprints: Mapping[str, str], overwrite: bool = False,
               what: str = "outputs") -> set[str]:
    """Keys whose output is current (made from the inputs ``fingerprints`` describe); logs how many are stale.

    ``outputs`` maps key -> output path, ``fingerprints`` key -> :func:`source_fingerprint`
    of its inputs today. With ``overwrite`` nothing counts as done.
    """
    if overwrite:
        return set()
    done, stale = set(), 0
    for key, output in outputs.items():
        if made_from(output, fingerprints[key]):
            done.add(key)
        elif Path(output).is_file():
            stale += 1
    if stale:
        log.info("%d %s were made from other inputs (or before inputs were recorded): recomputing them", stale, what)
    return done
