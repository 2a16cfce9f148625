"""The ``semantics`` stage over one split: centroids (loaded, or fitted on val), then a label map per image.

Writes ``{root}/{output_subdir}/{split}/{city}/{stem}.png`` (cluster ids
0..k-1 with ``raw_clusters``, 8-bit up to k = 255 and 16-bit above; else
trainIds through the majority-vote ``cluster_to_class``), ``stats.json`` and
the manifest in the split folder, and the fitted centroids as
``{root}/{output_subdir}/kmeans_centroids.npz``. The split folder is claimed
first (:meth:`RunManifest.claim`): a rerun with the same settings resumes,
reusing the fitted centroids and every label map made from today's image.

Under ``torchrun`` each rank computes the features of its share of the images;
rank 0 fits (in image order, so the centroids equal one process's), and each
rank writes its own label maps; rank 0 sums the statistics and writes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pseudo_labels.core import distributed
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import remove_stale_temp_files, sha256_optional, write_json, write_npz, write_png
from pseudo_labels.core.manifest import RunManifest, RunOutputs, record_source, source_fingerprint, split_done
from pseudo_labels.core.parallel import first_n, shard
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data import frames
from pseudo_labels.formats.centroids import load_centroid_file
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.semantics import cluster_maps, clustering, crf
from pseudo_labels.semantics.features import Windows
from refs.cause.model import CHECKPOINT_FILES, CheckpointError, load_cause
from refs.checkpoints import CHECKPOINT_DIR

log = logging.getLogger("semantics")

FIT_SPLIT = "val"
"""The split the centroids are fitted on (as the reference), whatever split is labelled."""
DEFAULT_K = 300
"""The original's default; the published configuration is k = 80."""
CENTROID_FILE = "kmeans_centroids.npz"

Centroids = tuple[np.ndarray, np.ndarray | None]
"""(k, 90) unit centroids and the cluster -> trainId table (None for raw cluster maps)."""


@dataclass(frozen=True, kw_only=True)
class SemanticsOptions:
    """The ``semantics`` stage's settings: one field per command-line flag, same names, order and defaults.

    The manifest records them as the command's arguments, so a caller that
    builds them gets the manifest the command line writes. Not checked here (the
    command line checks them): 2 <= ``k`` <= MAX_CLUSTERS, ``batch_size`` >= 1,
    ``label_free`` only with ``raw_clusters``, and pydensecrf when the CRF runs.
    """

    cityscapes_root: Path
    split: str = "val"
    k: int = DEFAULT_K
    skip_crf: bool = False
    crf_workers: int | None = None
    raw_clusters: bool = False
    """Write cluster ids 0..k-1 instead of trainIds."""
    output_subdir: str | None = None
    """None: ``pseudo_semantic_raw_k{k}`` (raw clusters) or ``pseudo_semantic_overclustered_k{k}``."""
    load_centroids: Path | None = None
    """A ``kmeans_centroids.npz`` to use instead of fitting."""
    checkpoint_dir: Path = CHECKPOINT_DIR
    device: str = "auto"
    limit: int = 0
    """Only the first N images (fitting and output); 0: all."""
    batch_size: int = 1
    amp: bool = False
    feature_cache: Path | None = None
    label_free: bool = False
    """Fit without ground truth (``cluster_to_class`` left 255)."""
    kmeans: str = "minibatch"
    n_init: int = clustering.DEFAULT_N_INIT
    seed: int = clustering.DEFAULT_SEED
    num_workers: int = 2
    overwrite: bool = False
    layout: str = "cityscapes"
    """How the images are laid out (:data:`pseudo_labels.data.frames.LAYOUTS`)."""
    image_root: Path | None = None
    """Where the images are, in ``layout``; None: ``cityscapes_root``. Outputs stay under ``cityscapes_root``."""

    @property
    def images_root(self) -> Path:
        """The folder the layout reads the images from."""
        return self.image_root or self.cityscapes_root

    @property
    def output_dir(self) -> Path:
        """``{cityscapes_root}/{output_subdir}``, the default subfolder named for k and the label kind."""
        subdir = self.output_subdir or (f"pseudo_semantic_raw_k{self.k}" if self.raw_clusters
                                        else f"pseudo_semantic_overclustered_k{self.k}")
        return self.cityscapes_root / subdir


def frames_of(options: SemanticsOptions) -> dict[str, Path]:
    """The frames of the split to label, in the options' layout; for layouts other than Cityscapes their headers
    are checked first (zero-byte, unreadable, smaller than one window) and the fit must be label-free or given."""
    layout = frames.layout_named(options.layout)
    found = layout.frames(options.images_root, options.split)
    if options.layout != "cityscapes":
        if not options.load_centroids and not options.label_free:
            raise InputError(f"--layout {options.layout} has no ground truth to name clusters by: pass "
                             f"--load_centroids (for example 'published': Cityscapes' clusters transferred) or "
                             f"--raw_clusters --label_free (clusters fitted on these images).")
        frames.frame_sizes(found)
    return found


def split_images_folder(options: SemanticsOptions) -> Path:
    """The folder the split's images are read from (what no output may lie in)."""
    return frames.layout_named(options.layout).images_folder(options.images_root, options.split)


def _given_centroids(options: SemanticsOptions) -> Centroids:
    """The centroids of ``load_centroids``; their number must be ``k`` (the output folder is named for it)."""
    centroids, table = load_centroid_file(options.load_centroids, need_classes=not options.raw_clusters)
    if len(centroids) != options.k:
        raise InputError(f"{options.load_centroids}: {len(centroids)} centroids, but --k is {options.k} (the output "
                         f"folder would be named for k={options.k}). Pass --k {len(centroids)}.")
    return centroids, table


def _claim(manifest: RunManifest, options: SemanticsOptions, settings: cluster_maps.ExtractSettings,
           process: distributed.Process, keys: Sequence[str]) -> bool:
    """Rank 0 claims the split folder; every rank learns whether this run resumes an earlier one."""
    resuming = None
    if process.leader:
        resuming = manifest.claim(options.output_dir / options.split, {
            "k": options.k, "raw_clusters": options.raw_clusters, "label_free": options.label_free,
            "kmeans": options.kmeans, "n_init": options.n_init, "seed": options.seed, "limit": options.limit or None,
            "amp": settings.amp, "crf": not options.skip_crf, "load_centroids": sha256_optional(options.load_centroids),
            "checkpoints": {k: v["sha256"] for k, v in manifest.record["checkpoints"].items()}}, options.overwrite,
            inputs=(split_images_folder(options), options.load_centroids),
            outputs=RunOutputs.of(("**/*.png",), (cs.output_path(options.output_dir, options.split, k, ".png")
                                                for k in keys)))
        remove_stale_temp_files(options.output_dir, recursive=False)  # the centroid file's folder
    return distributed.from_leader(process, resuming)


def _fitted_centroids(model: torch.nn.Module, options: SemanticsOptions, settings: cluster_maps.ExtractSettings,
                      resuming: bool, kept: dict[str, tuple[Windows, tuple[int, int]]],
                      process: distributed.Process) -> Centroids:
    """The centroids fitted on val (or by the interrupted run being resumed), saved by rank 0.

    When the labelled split is val, ``kept`` receives its crop features, so
    labelling needs no second network pass.
    """
    fitted_path = options.output_dir / CENTROID_FILE
    if resuming and fitted_path.is_file():  # an interrupted run already fitted
        log.info("resuming: reusing %s", fitted_path)
        return load_centroid_file(fitted_path, need_classes=not options.raw_clusters)
    if options.layout == "cityscapes":
        fit_split, fit_images = FIT_SPLIT, None
    else:  # no GT: the label-free fit runs on the images being labelled
        fit_split, fit_images = options.split, frames_of(options)
    fit_keys = first_n(fit_images or cs.image_paths(options.cityscapes_root, fit_split), options.limit)
    fitted = cluster_maps.fit_on_split(model, options.cityscapes_root, fit_split, fit_keys, settings, options.k,
                                       options.kmeans, options.n_init, options.seed, options.label_free,
                                       keep=kept if options.split == fit_split else None, process=process,
                                       images=fit_images)
    if process.leader:
        write_npz(fitted_path, fitted.to_npz())
        log.info("saved %s (inertia %.2f, %d samples)", fitted_path, fitted.inertia, fitted.n_samples)
    return fitted.centroids, None if options.raw_clusters else fitted.cluster_to_class


def _write_label_maps(options: SemanticsOptions, images: dict[str, Path], mine: list[str], done: set[str],
                      kept: dict[str, tuple[Windows, tuple[int, int]]],
                      source: Iterator[tuple[str, Windows, tuple[int, int]]], centroids: Centroids,
                      fingerprints: dict[str, str]) -> np.ndarray:
    """Write the label maps of ``mine`` not ``done``; the per-class pixel counts of all of ``mine``.

    Crop features come from ``kept`` (the fitting pass on this split) or else,
    in order, from ``source``.
    """
    centres, table = centroids
    output_dir, split = options.output_dir, options.split
    classes = len(centres) if options.raw_clusters else cs.NUM_CLASSES
    pixels = np.zeros(classes, np.int64)
    for key in sorted(done):  # written by the interrupted run (atomically, so complete)
        labels = read_label_png(cs.output_path(output_dir, split, key, ".png"))
        pixels += np.bincount(labels.ravel(), minlength=classes)[:classes]

    def jobs() -> Iterator[cluster_maps.LabelJob]:
        for key in mine:
            if key in done:
                continue
            if key in kept:
                windows, original = kept.pop(key)
            else:
                found_key, windows, original = next(source)
                assert found_key == key
            yield cluster_maps.LabelJob(key, windows, original, centres, table,
                                        None if options.skip_crf else images[key])

    for key, labels in crf.map_label_jobs(cluster_maps.run_label_job, jobs(), not options.skip_crf,
                                          options.crf_workers):
        pixels += np.bincount(labels.ravel(), minlength=classes)[:classes]
        record_source(write_png(cs.output_path(output_dir, split, key, ".png"), labels), fingerprints[key])
    return pixels


def write_semantic_labels(options: SemanticsOptions) -> Path:
    """The ``semantics`` stage: label maps, ``stats.json`` and manifest of ``options.split``; returns its folder.

    A missing split, centroid file or checkpoint, centroids that are not
    ``k``, or outputs made with other settings (without ``overwrite``) are an
    :class:`InputError`.
    """
    images = frames_of(options)
    keys = first_n(images, options.limit)
    given = _given_centroids(options) if options.load_centroids else None
    process, device = distributed.start(pick_device(options.device))
    try:
        model = load_cause(options.checkpoint_dir).to(device)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    settings = cluster_maps.ExtractSettings(device, options.batch_size, options.amp and device.type == "cuda",
                                            options.num_workers, options.feature_cache)
    manifest = RunManifest("semantics", asdict(options))
    manifest.add_checkpoints({name: options.checkpoint_dir / name for name in CHECKPOINT_FILES})
    if options.load_centroids:
        manifest.add_inputs({"load_centroids": options.load_centroids})
    resuming = _claim(manifest, options, settings, process, keys)
    kept: dict[str, tuple[Windows, tuple[int, int]]] = {}
    centroids = given if given is not None else _fitted_centroids(model, options, settings, resuming, kept, process)
    split_dir = options.output_dir / options.split
    mine = shard(keys, process.world, process.rank)  # under torchrun: this rank's images
    fingerprints = {k: source_fingerprint(images[k]) for k in mine}
    done = split_done({k: cs.output_path(options.output_dir, options.split, k, ".png") for k in mine if k not in kept},
                      fingerprints, not resuming, "label maps")
    todo = [k for k in mine if k not in kept and k not in done]
    # held until the stage returns: its progress bar closes with it, after the last log line
    source = cluster_maps.image_windows(model, options.split, todo, [images[k] for k in todo], settings,
                                        f"labels {options.split}")
    pixels = _write_label_maps(options, images, mine, done, kept, source, centroids, fingerprints)
    pixels = distributed.sum_on_leader(process, pixels)
    distributed.wait_for_all(process)
    if process.leader:
        write_json(split_dir / "stats.json", {"total_images": len(keys), "per_class_pixels": pixels.tolist(),
                                              "num_output_classes": len(pixels),
                                              "raw_clusters": options.raw_clusters})
        manifest.write(split_dir, extra={"device": str(device), "images": len(keys), "ranks": process.world})
        log.info("wrote %d label maps under %s", len(keys), split_dir)
    distributed.finish(process)
    return split_dir
