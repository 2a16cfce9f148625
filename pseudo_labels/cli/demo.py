"""The whole pipeline on a synthetic Cityscapes, in a few minutes on a CPU, with no weights.

    python -m pseudo_labels demo [--out outputs/demo] [--num_images 8]

Steps: synthetic train + val scenes; overclustering (k-means, majority vote on
val) of *weight-free stand-in features* -- per pixel colour, local colour
spread and height in the image, computed on the same 322-short-side working
grid and pooled the same way as the CAUSE features -- unless
``--checkpoint_dir`` holds the real CAUSE and SPIdepth files, in which case the
real networks run; the synthetic depth as depth (or SPIdepth); the sweep under
both protocols; the label-free thing/stuff decision; the CUPS export of the
train split; pictures of the 4 worst val images and a report (Markdown and HTML) that
says the data is synthetic. It ends by printing the best configuration
and where everything is.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from tqdm import tqdm

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.semantics import clustering, features
from pseudo_labels.report import markdown as report
from pseudo_labels.data import synthetic
from pseudo_labels.cli.help import HelpFormatter
from pseudo_labels.core.errors import exit_on_input_error
from pseudo_labels.core.fileio import write_npz, write_png

log = logging.getLogger("demo")

DEFAULT_OUT = Path("outputs/demo")
DEFAULT_SIZE = (512, 1024)
TEXTURE_WINDOW = 7


def stand_in_features(rgb: np.ndarray) -> torch.Tensor:
    """(7, H', W') weight-free features at the CAUSE working size: RGB, local RGB spread, image height.

    A stand-in for the network, documented as such: it lets the clustering,
    assignment and everything after them run without weights.
    """
    height, width = features.working_size(*rgb.shape[:2])
    image = features.preprocess(rgb)  # the same Pillow resize and normalisation as the network input
    spread = np.stack([np.sqrt(np.maximum(ndimage.uniform_filter(c * c, TEXTURE_WINDOW)
                                          - ndimage.uniform_filter(c, TEXTURE_WINDOW) ** 2, 0)) for c in image])
    rows = np.broadcast_to(np.linspace(-1, 1, height, dtype=np.float32)[:, None], (height, width))[None]
    return torch.from_numpy(np.concatenate([image, spread, rows]).astype(np.float32))


def stand_in_semantics(root: Path, k: int, splits: Sequence[str]) -> Path:
    """Fit k-means on val stand-in features (majority vote on val GT) and write raw cluster PNGs for ``splits``."""
    out = root / f"pseudo_semantic_raw_k{k}"
    images = cs.image_paths(root, "val")
    labels = cs.label_ids_paths(root, "val")
    sampler = clustering.FitSampler()
    for key, path in tqdm(images.items(), desc="stand-in features (fit)", unit="img"):
        sampler.add(features.patch_features(stand_in_features(cs.read_rgb(path))), cs.load_train_ids(labels[key]))
    fitted = clustering.fit(sampler, k)
    write_npz(out / "kmeans_centroids.npz", fitted.to_npz())
    for split in splits:
        for key, path in tqdm(cs.image_paths(root, split).items(), desc=f"clusters {split}", unit="img"):
            rgb = cs.read_rgb(path)
            clusters, _ = features.assign_clusters(stand_in_features(rgb), fitted.centroids)
            write_png(cs.output_path(out, split, key, ".png"), cs.resize_nearest(clusters, rgb.shape[:2]))
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="everything is written here")
    parser.add_argument("--num_images", type=int, default=8, help="images per split")
    parser.add_argument("--size", type=int, nargs=2, default=DEFAULT_SIZE, metavar=("H", "W"), help="image size")
    parser.add_argument("--k", type=int, default=40, help="clusters")
    parser.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    parser.add_argument("--checkpoint_dir", type=Path, default=None,
                        help="run the real networks: CAUSE files here, SPIdepth files in its spidepth/ subfolder")
    return parser


@exit_on_input_error
def main(argv: Sequence[str] | None = None) -> int:
    from pseudo_labels.cli import stuff_things as classify_stuff_things, cups as convert_to_cups_format, sweep as sweep_k50_spidepth
    from pseudo_labels.cli import visualize

    args = build_parser().parse_args(argv)
    root: Path = args.out
    for index, split in enumerate(("val", "train")):
        synthetic.write_dataset(root, split, args.num_images, args.seed + index, tuple(args.size))
    subdir = f"pseudo_semantic_raw_k{args.k}"
    if args.checkpoint_dir:
        from pseudo_labels.cli import depth as generate_depth_spidepth, semantics as generate_overclustered_semantics

        common = ["--cityscapes_root", str(root), "--k", str(args.k), "--skip_crf", "--raw_clusters",
                  "--output_subdir", subdir, "--checkpoint_dir", str(args.checkpoint_dir)]
        generate_overclustered_semantics.main([*common, "--split", "val"])
        generate_overclustered_semantics.main([*common, "--split", "train", "--load_centroids",
                                               str(root / subdir / "kmeans_centroids.npz")])
        for path in (root / cs.DEPTH_SUBDIR).rglob("*.npy"):
            path.unlink()  # replace the synthetic depth by the network's
        generate_depth_spidepth.main(["--cityscapes_root", str(root), "--split", "both",
                                      "--checkpoint_dir", str(args.checkpoint_dir / "spidepth")])
    else:
        stand_in_semantics(root, args.k, ("val", "train"))
    centroids = root / subdir / "kmeans_centroids.npz"
    sweep_json = root / f"sweep_k{args.k}_spidepth_val.json"
    sweep_k50_spidepth.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", subdir,
                             "--output", str(sweep_json)])
    classify_stuff_things.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", subdir,
                                "--num_clusters", str(args.k)])
    record = json.loads(sweep_json.read_text())
    best = record["best"]["reference"]
    tau, area = (0.20, 1000) if best["mode"] == "cc_only" else (best["grad_threshold"], best["min_area"])
    convert_to_cups_format.main(["--cityscapes_root", str(root), "--split", "train", "--semantic_subdir", subdir,
                                 "--centroids_path", str(centroids), "--grad_threshold", str(tau),
                                 "--min_instance_area", str(area), "--depth_instances"])
    visualize.main(["--cityscapes_root", str(root), "--split", "val", "--semantic_subdir", subdir,
                    "--grad_threshold", str(tau), "--min_area", str(area), "--select", "worst", "--limit", "4",
                    "--out", str(root / "pictures")])
    features_used = "CAUSE + SPIdepth networks" if args.checkpoint_dir else "weight-free stand-in features, synthetic depth"
    note = (f"Made by `python -m pseudo_labels demo` with k = {args.k} clusters (the demo's default is 40; the "
            f"published runs use k = 80), {args.num_images} images per split at {args.size[0]}x{args.size[1]}, "
            f"{features_used}.")
    report_path = report.write_report(sweep_json, root / "report.md", pictures=root / "pictures", html=True, note=note)
    print()
    for protocol in record["protocols"]:
        b = record["best"][protocol]
        where = "CC-only" if b["mode"] == "cc_only" else f"tau {b['grad_threshold']:.2f}, A_min {b['min_area']}"
        print(f"best ({protocol} protocol): {where}: PQ {b['PQ']:.2f} (stuff {b['PQ_stuff']:.2f}, things {b['PQ_things']:.2f})")
    print(f"({features_used}; synthetic data, so these numbers say nothing about Cityscapes)")
    print(f"data and pseudo-labels: {root}\nsweep: {sweep_json}\nreport: {report_path} (and "
          f"{report_path.with_suffix('.html')})\n"
          f"pictures: {root / 'pictures'}\nCUPS labels: {root / 'cups_pseudo_labels'}")
    return 0
