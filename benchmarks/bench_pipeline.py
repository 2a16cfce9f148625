"""End-to-end wall time of the pipeline's commands, per stage and per image, extrapolated to Cityscapes train.

    .venv/bin/python benchmarks/bench_pipeline.py                      # on a CUDA machine
    .venv/bin/python benchmarks/bench_pipeline.py --device cpu --backbone convnextv2_atto \\
        --train_images 2 --val_images 2                                # a CPU smoke run of this script

It writes synthetic 1024x2048 train and val images and random full-size
weights in the official layouts (``refs/random_release.py``; the speed of a
network does not depend on its weights), then runs the real commands as a
user would, each in its own process:

1. semantics on val: CAUSE features, k-means fit (k=80), raw cluster maps;
2. semantics on train with the fitted centroids;
3. SPIdepth depth on train;
4. depth-guided instances on train;
5. the CUPS export of train.

It prints seconds and images/s per stage (process start and model loading
included) and extrapolates to the published setting: fitting on the 500 val
images and labelling the 2975 train images, as
``fit(val) * 500 / val_images + sum(train stages) * 2975 / train_images``.
Without a CUDA device (and no ``--device cpu``) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.synthetic import write_dataset
from refs.random_release import write_cause_release, write_spidepth_release
from refs.spidepth.unet import DEFAULT_BACKBONE

PACKAGE = Path(__file__).resolve().parents[1] / "pseudo_labels"
CITYSCAPES_TRAIN, CITYSCAPES_VAL = 2975, 500
K = 80


def run_stage(argv: list[str]) -> float:
    """Seconds one command takes; its output is shown only when it fails."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"stage failed: {' '.join(argv[:1])}")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_images", type=int, default=64)
    parser.add_argument("--val_images", type=int, default=32)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="SPIdepth ConvNeXtV2 variant")
    parser.add_argument("--batch_size", type=int, default=8, help="images per network batch")
    parser.add_argument("--num_workers", type=int, default=min(8, os.cpu_count() or 1), help="decoding processes")
    parser.add_argument("--amp", action="store_true", help="bf16 autocast for both networks")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary folder, removed after")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing measured (pass --device cpu --backbone convnextv2_atto for a CPU smoke run)")
        return 0
    device_name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "CPU"
    with tempfile.TemporaryDirectory() as temporary:
        work = args.workdir or Path(temporary)
        root, weights = work / "cityscapes", work / "weights"
        print(f"writing {args.val_images} val + {args.train_images} train synthetic 1024x2048 images and random weights")
        write_dataset(root, "val", num_images=args.val_images, seed=1, size=(1024, 2048), show_progress=False)
        write_dataset(root, "train", num_images=args.train_images, seed=2, size=(1024, 2048), show_progress=False)
        write_cause_release(weights / "cause")
        write_spidepth_release(weights / "spidepth", args.backbone)
        semantic = f"bench_semantic_k{K}"
        centroids = root / semantic / "kmeans_centroids.npz"
        network = ["--device", args.device, "--batch_size", str(args.batch_size), "--num_workers", str(args.num_workers),
                   *(["--amp"] if args.amp else [])]
        semantics = [str(PACKAGE / "generate_overclustered_semantics.py"), "--cityscapes_root", str(root), "--k", str(K),
                     "--skip_crf", "--raw_clusters", "--output_subdir", semantic, "--checkpoint_dir",
                     str(weights / "cause"), *network]
        stages = [
            ("semantics val: features + k-means fit + maps", "val", [*semantics, "--split", "val"]),
            ("semantics train: features + maps", "train", [*semantics, "--split", "train", "--load_centroids",
                                                          str(centroids)]),
            ("depth train (SPIdepth, flip averaging)", "train",
             [str(PACKAGE / "generate_depth_spidepth.py"), "--cityscapes_root", str(root), "--split", "train",
              "--checkpoint_dir", str(weights / "spidepth"), "--backbone", args.backbone, "--output_dir",
              str(root / "bench_depth"), *network]),
            ("instances train", "train",
             [str(PACKAGE / "generate_depth_guided_instances.py"), "--semantic_dir", str(root / semantic / "train"),
              "--depth_dir", str(root / "bench_depth" / "train"), "--output_dir", str(root / "bench_instances"),
              "--centroids_path", str(centroids), "--grad_threshold", "0.20", "--min_area", "1000"]),
            ("CUPS export train (640x1280)", "train",
             [str(PACKAGE / "convert_to_cups_format.py"), "--cityscapes_root", str(root), "--split", "train",
              "--semantic_subdir", semantic, "--depth_subdir", "bench_depth", "--centroids_path", str(centroids),
              "--depth_instances", "--grad_threshold", "0.20", "--min_instance_area", "1000"]),
        ]
        counts = {"val": args.val_images, "train": args.train_images}
        print(f"device: {device_name}, torch {torch.__version__}, SPIdepth {args.backbone}, batch {args.batch_size}, "
              f"{'bf16 autocast' if args.amp else 'float32'}\n")
        print("| stage | images | s | images/s |\n|---|---|---|---|")
        seconds = {}
        for name, split, argv in stages:
            seconds[name] = run_stage(argv)
            print(f"| {name} | {counts[split]} | {seconds[name]:.1f} | {counts[split] / seconds[name]:.2f} |")
        assert len(cs.output_paths(root / semantic, "train", ".png")) == args.train_images
        fit = seconds[stages[0][0]] * CITYSCAPES_VAL / args.val_images
        train = sum(seconds[name] for name, split, _ in stages if split == "train") * CITYSCAPES_TRAIN / args.train_images
        print(f"\nextrapolated: fit on {CITYSCAPES_VAL} val images {fit / 60:.1f} min + label {CITYSCAPES_TRAIN} train "
              f"images {train / 60:.1f} min = {(fit + train) / 60:.1f} min end to end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
