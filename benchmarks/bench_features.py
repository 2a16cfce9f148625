"""CAUSE feature stage: the reference-style loop against batched, single-pass extraction; k-means implementations;
multi-scale CAUSE-27 log-probabilities, per-scale passes against one pass over all scales.

    .venv/bin/python benchmarks/bench_features.py [--images 4] [--batch_size 4] [--device cpu] [--vectors 1000000]
    .venv/bin/python benchmarks/bench_features.py --part multiscale [--ms_images 2] [--scales 0.75,1.0,1.5]

Random full-size weights (speed does not depend on them), synthetic 1024x2048
val images. Fit + assign over the images, in one process:

* reference loop: every window and its mirror through the network one at a
  time (batch 1), and the features computed twice, once for k-means fitting
  and again for the cluster assignment;
* this toolkit: all windows and mirrors of ``--batch_size`` images in one batch,
  features computed once and kept for the assignment pass.

Both feed the same k-means (MiniBatchKMeans, k=80 needs enough vectors: k is
lowered to fit a few images). Then MiniBatchKMeans and ``--kmeans torch`` on
``--vectors`` random unit vectors (k=80), with their inertia.

Multi-scale (``generate_semantic_pseudolabels_cause.py --scales``), per image
and with the random probe, from decoded images to the averaged (27, 322, 644)
map, in three ways: the original's loop (per scale, every window and its mirror
at batch 1), one network pass per scale, and this toolkit's single pass over
every window of every scale; the maps are compared. Prints tables.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from pseudo_labels.semantics import cause27, clustering, features
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.synthetic import write_dataset
from refs.cause.model import CauseFeatures, ClusterProbe


def reference_features(model: CauseFeatures, image: np.ndarray, device: torch.device) -> features.Windows:
    """One forward per crop and per mirror, as the original loop runs them."""
    maps, offsets = [], features.window_grid(image.shape[1:])
    with torch.inference_mode():
        for y, x in offsets:
            crop = torch.from_numpy(np.ascontiguousarray(image[:, y:y + 322, x:x + 322]))[None].to(device)
            plain = model(crop)
            mirrored = model(crop.flip(-1)).flip(-1)
            maps.append(((plain + mirrored) / 2)[0].cpu().numpy())
    return features.Windows(np.stack(maps), tuple(y for y, _ in offsets), tuple(x for _, x in offsets),
                            tuple(image.shape[1:]))


def run(model: CauseFeatures, images: list[np.ndarray], gts: list[np.ndarray], k: int, device: torch.device,
        batch_size: int | None) -> float:
    """Fit + assign; ``batch_size`` None is the reference loop (features computed twice)."""
    start = time.perf_counter()
    sampler = clustering.FitSampler()
    kept = []
    for i in range(0, len(images), batch_size or 1):
        chunk = images[i:i + (batch_size or 1)]
        windows = [reference_features(model, im, device) for im in chunk] if batch_size is None else \
            features.crop_features(model, chunk, device)
        for w, gt in zip(windows, gts[i:i + len(chunk)]):
            sampler.add(features.patch_features(features.full_resolution(w)), gt)
            kept.append(w)
    fitted = clustering.fit(sampler, k)
    for index, image in enumerate(images):
        windows = reference_features(model, image, device) if batch_size is None else kept[index]
        features.assign_clusters(features.full_resolution(windows), fitted.centroids)
    return time.perf_counter() - start


def multiscale_original_loop(model: CauseFeatures, probe: ClusterProbe, rgb: np.ndarray, scales: tuple[float, ...],
                             device: torch.device) -> torch.Tensor:
    """The original's loop: per scale, per window, the plain and the mirrored crop as two batch-1 forwards."""
    per_scale = []
    for image in cause27.scaled_inputs(rgb, scales):
        windows = reference_features(model, image, device)
        per_scale.append(cause27.window_log_probs(windows, probe))
    return cause27.merged_log_probs(per_scale, features.working_size(*rgb.shape[:2]))


def multiscale_per_scale_passes(model: CauseFeatures, probe: ClusterProbe, rgb: np.ndarray,
                                scales: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """One batched network pass per scale (all windows and mirrors of that scale)."""
    per_scale = [cause27.scale_log_probs(model, probe, [[image]], device)[0][0]
                 for image in cause27.scaled_inputs(rgb, scales)]
    return cause27.merged_log_probs(per_scale, features.working_size(*rgb.shape[:2]))


def multiscale_one_pass(model: CauseFeatures, probe: ClusterProbe, rgb: np.ndarray, scales: tuple[float, ...],
                        device: torch.device) -> torch.Tensor:
    """The shipped path: every window of every scale in one pass."""
    per_scale = cause27.scale_log_probs(model, probe, [cause27.scaled_inputs(rgb, scales)], device)[0]
    return cause27.merged_log_probs(per_scale, features.working_size(*rgb.shape[:2]))


def bench_multiscale(model: CauseFeatures, rgbs: list[np.ndarray], scales: tuple[float, ...],
                     device: torch.device, name: str) -> None:
    """Time the three multi-scale paths over ``rgbs`` and print a table with their largest differences."""
    torch.manual_seed(1)
    probe = ClusterProbe()
    with torch.no_grad():
        probe.cluster_probe.normal_()
    windows = sum(len(features.window_grid(cause27.scaled_size(*rgbs[0].shape[:2], s))) for s in scales)
    multiscale_one_pass(model, probe, rgbs[0], scales, device)  # warm-up
    rows, maps = [], {}
    for label, function in (("original loop (per scale, each window and mirror at batch 1)", multiscale_original_loop),
                            ("one pass per scale", multiscale_per_scale_passes),
                            ("one pass over all scales (shipped)", multiscale_one_pass)):
        start = time.perf_counter()
        maps[label] = [function(model, probe, rgb, scales, device) for rgb in rgbs]
        rows.append((label, time.perf_counter() - start))
    shipped = maps[rows[-1][0]]
    n = len(rgbs)
    print(f"\nCAUSE-27 --scales {','.join(map(str, scales))} on {name}; {n} images "
          f"{rgbs[0].shape[0]}x{rgbs[0].shape[1]}, {windows} windows x 2 mirrors per image")
    print("| path | total s | s / image | speed-up | max abs diff vs shipped | argmax agreement |")
    print("|---|---|---|---|---|---|")
    for label, seconds in rows:
        diff = max(float((a - b).abs().max()) for a, b in zip(maps[label], shipped))
        agree = np.mean([float((a.argmax(0) == b.argmax(0)).float().mean()) for a, b in zip(maps[label], shipped)])
        print(f"| {label} | {seconds:.1f} | {seconds / n:.2f} | {rows[0][1] / seconds:.2f}x | {diff:.1e} | "
              f"{100 * agree:.3f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vectors", type=int, default=1_000_000)
    parser.add_argument("--root", type=Path, default=Path("outputs/bench_features"))
    parser.add_argument("--part", choices=("all", "fit", "kmeans", "multiscale"), default="all")
    parser.add_argument("--ms_images", type=int, default=2, help="images for the multi-scale table")
    parser.add_argument("--scales", default="0.75,1.0,1.5", help="scales for the multi-scale table")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    if not (args.root / "synthetic_val.json").is_file():
        write_dataset(args.root, "val", num_images=args.images, seed=11, size=(1024, 2048))
    paths = cs.image_paths(args.root, "val")
    labels = cs.label_ids_paths(args.root, "val")
    torch.manual_seed(0)
    model = CauseFeatures(torch.randn(2048, 768)).eval().to(device)
    if args.part in ("all", "fit"):
        bench_fit(model, args, paths, labels, device, name)
    if args.part in ("all", "kmeans"):
        bench_kmeans(args, device)
    if args.part in ("all", "multiscale"):
        rgbs = [cs.read_rgb(path) for path in list(paths.values())[: args.ms_images]]
        bench_multiscale(model, rgbs, cause27.parse_scales(args.scales), device, name)


def bench_fit(model: CauseFeatures, args: argparse.Namespace, paths: dict, labels: dict, device: torch.device,
              name: str) -> None:
    """The fit + assign table."""
    keys = list(paths)[: args.images]
    images = [features.preprocess(cs.read_rgb(paths[k])) for k in keys]
    gts = [cs.load_train_ids(labels[k]) for k in keys]
    k = min(80, len(images) * 100)
    features.crop_features(model, images[:1], device)  # warm-up
    reference_s = run(model, images, gts, k, device, None)
    ours_s = run(model, images, gts, k, device, args.batch_size)
    n = len(images)
    print(f"CAUSE ViT-B/14 + head on {name}; {n} images 1024x2048 (3 windows x 2 mirrors each), k={k}, fit + assign")
    print("| path | total s | s / image | speed-up |")
    print("|---|---|---|---|")
    print(f"| reference loop (batch 1, features twice) | {reference_s:.1f} | {reference_s / n:.2f} | 1.0x |")
    print(f"| batched (batch {args.batch_size}), features once | {ours_s:.1f} | {ours_s / n:.2f} | {reference_s / ours_s:.2f}x |")


def bench_kmeans(args: argparse.Namespace, device: torch.device) -> None:
    """The k-means table."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.vectors, 90))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    print(f"\nk-means, k=80, {args.vectors} x 90 unit vectors, n_init 3")
    print("| implementation | s | inertia |")
    print("|---|---|---|")
    for method, function in (("MiniBatchKMeans (reference settings)", clustering.fit_minibatch),
                             (f"torch full batch ({args.device})", lambda v, kk: clustering.fit_torch(v, kk, device=device))):
        start = time.perf_counter()
        _, _, inertia = function(vectors, 80)
        print(f"| {method} | {time.perf_counter() - start:.1f} | {inertia:.1f} |")


if __name__ == "__main__":
    main()
