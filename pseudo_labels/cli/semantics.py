"""Overclustered semantics from CAUSE features: fit k-means on val, write cluster (or class) PNGs.

    python pseudo_labels/generate_overclustered_semantics.py --cityscapes_root R --split val --k 80 \\
        --skip_crf --raw_clusters --output_subdir pseudo_semantic_raw_k80
    python pseudo_labels/generate_overclustered_semantics.py --cityscapes_root R --split train --k 80 \\
        --skip_crf --raw_clusters --output_subdir pseudo_semantic_raw_k80 \\
        --load_centroids R/pseudo_semantic_raw_k80/kmeans_centroids.npz

``--load_centroids published`` takes the packaged k=80 centroids of the
published run (:mod:`pseudo_labels.data.published`, sha256 checked).
Without ``--load_centroids`` the centroids are fitted on the *val* split (as the
reference) and saved as ``{R}/{output_subdir}/kmeans_centroids.npz``; the
majority-vote ``cluster_to_class`` reads val ground truth unless ``--label_free``.
Outputs: ``{R}/{output_subdir}/{split}/{city}/{stem}.png`` (cluster ids with
``--raw_clusters``: 8-bit PNGs up to k = 255, 16-bit above; else trainIds) and ``stats.json`` per split. Without
``--skip_crf`` each map is refined by the dense CRF (:mod:`pseudo_labels.semantics.crf`),
as the reference does by default.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import clustering, crf, cluster_maps as semantics
from pseudo_labels.core import distributed
from pseudo_labels.data import published
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.devices import pick_device
from pseudo_labels.core.errors import InputError, exit_on_input_error
from pseudo_labels.core.fileio import remove_stale_temp_files, sha256_optional, write_json, write_npz, write_png
from pseudo_labels.core.manifest import RunManifest, record_source, source_fingerprint, split_done
from pseudo_labels.core.parallel import shard
from refs.cause.model import CHECKPOINT_FILES, CheckpointError, load_cause
from refs.checkpoints import CHECKPOINT_DIR
from pseudo_labels.formats.centroids import load_centroid_file

log = logging.getLogger("semantics")

FIT_SPLIT = "val"
DEFAULT_K = 300
"""The original's default; the published configuration is k = 80 (pass ``--k 80``)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--cityscapes_root", required=True, type=Path, help="Cityscapes root (leftImg8bit/, gtFine/)")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"), help="split to label")
    parser.add_argument("--k", type=int, default=DEFAULT_K,
                        help="number of k-means clusters (the published configuration: 80)")
    parser.add_argument("--skip_crf", action="store_true",
                        help="no dense CRF (the published setting); without it the CRF needs requirements-crf.txt")
    parser.add_argument("--crf_workers", type=int, default=None,
                        help="processes running the CRF (default: CPUs, at most 8)")
    parser.add_argument("--raw_clusters", action="store_true", help="write cluster ids 0..k-1 instead of trainIds")
    parser.add_argument("--output_subdir", default=None,
                        help="default: pseudo_semantic_raw_k{k} (raw) or pseudo_semantic_overclustered_k{k}")
    parser.add_argument("--load_centroids", type=published.centroid_file_argument, default=None,
                        help="reuse a kmeans_centroids.npz; 'published': the packaged k=80 centroids (PQ 26.74)")
    parser.add_argument("--checkpoint_dir", type=Path, default=CHECKPOINT_DIR,
                        help="flat folder with " + ", ".join(CHECKPOINT_FILES))
    parser.add_argument("--device", default="auto", help="cuda, cuda:1, cpu, or auto (cuda when available)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N images (fitting and output); 0: all")
    parser.add_argument("--batch_size", type=int, default=1, help="images per network batch (all their windows)")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast for the network (CUDA)")
    parser.add_argument("--feature_cache", type=Path, default=None, help="cache crop features here (float32 .npy)")
    parser.add_argument("--label_free", action="store_true",
                        help="fit without ground truth (cluster_to_class left 255); needs --raw_clusters")
    parser.add_argument("--kmeans", choices=("minibatch", "torch"), default="minibatch", help="k-means implementation")
    parser.add_argument("--n_init", type=int, default=clustering.DEFAULT_N_INIT, help="k-means restarts")
    parser.add_argument("--seed", type=int, default=clustering.DEFAULT_SEED, help="sampling and k-means seed")
    parser.add_argument("--num_workers", type=int, default=2, help="processes decoding images")
    parser.add_argument("--overwrite", action="store_true",
                        help="recompute everything, also in a folder made with other settings")
    return parser


def _check(args: argparse.Namespace) -> None:
    if not args.skip_crf:
        crf.require()
    if not 2 <= args.k <= cs.MAX_CLUSTERS:
        raise InputError(f"--k must be in 2..{cs.MAX_CLUSTERS} (16-bit cluster PNGs above k = "
                         f"{cs.MAX_CLUSTERS_8BIT}), "
                         f"got {args.k}.")
    if args.label_free and not args.raw_clusters:
        raise InputError("--label_free gives no cluster-to-class map: add --raw_clusters.")
    if args.batch_size < 1:
        raise InputError("--batch_size must be at least 1.")


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _check(args)
    root: Path = args.cityscapes_root
    subdir = args.output_subdir or (f"pseudo_semantic_raw_k{args.k}" if args.raw_clusters
                                    else f"pseudo_semantic_overclustered_k{args.k}")
    output_dir = root / subdir
    images = cs.image_paths(root, args.split)
    keys = list(images)[: args.limit] if args.limit else list(images)
    if args.load_centroids:
        centroids, table = load_centroid_file(args.load_centroids, need_classes=not args.raw_clusters)
        if len(centroids) != args.k:
            raise InputError(f"{args.load_centroids}: {len(centroids)} centroids, but --k is {args.k} (the output "
                             f"folder would be named for k={args.k}). Pass --k {len(centroids)}.")
    process, device = distributed.start(pick_device(args.device))
    try:
        model = load_cause(args.checkpoint_dir).to(device)
    except (FileNotFoundError, CheckpointError) as exc:
        raise InputError(str(exc)) from None
    settings = semantics.ExtractSettings(device, args.batch_size, args.amp and device.type == "cuda",
                                         args.num_workers, args.feature_cache)
    manifest = RunManifest("semantics", args)
    manifest.add_checkpoints({name: args.checkpoint_dir / name for name in CHECKPOINT_FILES})
    if args.load_centroids:
        manifest.add_inputs({"load_centroids": args.load_centroids})
    split_dir = output_dir / args.split
    resuming = None
    if process.leader:
        resuming = manifest.claim(split_dir, {
            "k": args.k, "raw_clusters": args.raw_clusters, "label_free": args.label_free, "kmeans": args.kmeans,
            "n_init": args.n_init, "seed": args.seed, "limit": args.limit or None, "amp": settings.amp, "crf": not args.skip_crf,
            "load_centroids": sha256_optional(args.load_centroids),
            "checkpoints": {k: v["sha256"] for k, v in manifest.record["checkpoints"].items()}}, args.overwrite)
        remove_stale_temp_files(output_dir, recursive=False)  # the centroid file's folder
    resuming = distributed.from_leader(process, resuming)
    fitted_path = output_dir / "kmeans_centroids.npz"
    if resuming and not args.load_centroids and fitted_path.is_file():  # an interrupted run already fitted
        log.info("resuming: reusing %s", fitted_path)
        centroids, table = load_centroid_file(fitted_path, need_classes=not args.raw_clusters)
    kept: dict = {}
    if not args.load_centroids and not (resuming and fitted_path.is_file()):
        fit_images = cs.image_paths(root, FIT_SPLIT)
        fit_keys = list(fit_images)[: args.limit] if args.limit else list(fit_images)
        fitted = semantics.fit_on_split(model, root, FIT_SPLIT, fit_keys, settings, args.k, args.kmeans, args.n_init,
                                        args.seed, args.label_free, keep=kept if args.split == FIT_SPLIT else None,
                                        process=process)
        if process.leader:
            write_npz(fitted_path, fitted.to_npz())
            log.info("saved %s (inertia %.2f, %d samples)", fitted_path, fitted.inertia, fitted.n_samples)
        centroids, table = fitted.centroids, None if args.raw_clusters else fitted.cluster_to_class

    classes = len(centroids) if args.raw_clusters else cs.NUM_CLASSES
    pixels = np.zeros(classes, np.int64)
    mine = shard(keys, process.world, process.rank)  # under torchrun: this rank's images
    fingerprints = {k: source_fingerprint(images[k]) for k in mine}
    done = split_done({k: cs.output_path(output_dir, args.split, k, ".png") for k in mine if k not in kept},
                      fingerprints, not resuming, "label maps")
    todo = [k for k in mine if k not in kept and k not in done]
    source = semantics.image_windows(model, args.split, todo, [images[k] for k in todo], settings, f"labels {args.split}")
    for key in sorted(done):  # written by the interrupted run (atomically, so complete)
        labels = cs.read_png(cs.output_path(output_dir, args.split, key, ".png"))
        pixels += np.bincount(labels.ravel(), minlength=classes)[:classes]

    def jobs() -> Iterator[semantics.LabelJob]:
        for key in mine:
            if key in done:
                continue
            if key in kept:
                windows, original = kept.pop(key)
            else:
                found_key, windows, original = next(source)
                assert found_key == key
            yield semantics.LabelJob(key, windows, original, centroids, table,
                                     None if args.skip_crf else images[key])

    for key, labels in crf.map_label_jobs(semantics.run_label_job, jobs(), not args.skip_crf, args.crf_workers):
        pixels += np.bincount(labels.ravel(), minlength=classes)[:classes]
        record_source(write_png(cs.output_path(output_dir, args.split, key, ".png"), labels), fingerprints[key])
    pixels = distributed.sum_on_leader(process, pixels)
    distributed.wait_for_all(process)
    if process.leader:
        write_json(split_dir / "stats.json", {"total_images": len(keys), "per_class_pixels": pixels.tolist(),
                                              "num_output_classes": classes, "raw_clusters": args.raw_clusters})
        manifest.write(split_dir, extra={"device": str(device), "images": len(keys), "ranks": process.world})
        log.info("wrote %d label maps under %s", len(keys), split_dir)
    distributed.finish(process)
    return 0
