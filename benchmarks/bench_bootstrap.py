"""Speed of the report's paired bootstrap: the vectorised path against the plain per-resample loop.

    .venv/bin/python benchmarks/bench_bootstrap.py [--images 500] [--configs 43] [--resamples 1000]

Random per-image statistics shaped like a full Cityscapes val sweep (500 images,
the default grid's 43 configurations, 19 classes for the reference and official
protocols, 27 for CUPS). The vectorised path (``bootstrap.paired_bootstrap``)
runs all resamples; the plain loop (``bootstrap.paired_bootstrap_reference``,
the protocols' own summaries per resample and configuration) runs
``--reference_resamples`` of them, its time scaled to the full count, and the
two are checked to agree on those resamples. Also: the size of the per-image
statistics file the sweep writes for these shapes.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from pseudo_labels.evaluation import bootstrap as bs
from pseudo_labels.evaluation.sweep_images import write_image_stats


def random_stats(rng: np.random.Generator, images: int, configs: int, classes: int) -> np.ndarray:
    """(images, configs, 4, classes): per-image counts of the size Cityscapes gives (a few segments per class)."""
    shape = (images, configs, classes)
    tp, fp, fn = rng.poisson(2.0, shape), rng.poisson(1.0, shape), rng.poisson(1.0, shape)
    return np.stack([tp, fp, fn, tp * rng.uniform(0.6, 0.95, shape)], axis=2).astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--configs", type=int, default=43)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--reference_resamples", type=int, default=4)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    arrays = {}
    for protocol in ("reference", "official", "cups"):
        stats = random_stats(rng, args.images, args.configs, bs.num_classes(protocol))
        arrays[protocol] = stats
        start = time.perf_counter()
        bs.paired_bootstrap(stats, protocol, best=0, resamples=args.resamples)
        fast = time.perf_counter() - start
        few = args.reference_resamples
        start = time.perf_counter()
        slow_part = bs.paired_bootstrap_reference(stats, protocol, best=0, resamples=few)
        slow = (time.perf_counter() - start) * args.resamples / few
        fast_part = bs.paired_bootstrap(stats, protocol, best=0, resamples=few)
        agree = max(float(np.nanmax(np.abs(fast_part.low[m] - slow_part.low[m]))) for m in bs.METRICS)
        agree = max(agree, float(np.nanmax(np.abs(fast_part.class_high - slow_part.class_high))))
        rows.append((protocol, fast, slow, agree))
    with tempfile.TemporaryDirectory() as folder:
        keys = [f"city/img_{i:04d}" for i in range(args.images)]
        size = write_image_stats(Path(folder) / "s.images.npz", keys, arrays).stat().st_size
    print(f"{args.images} images, {args.configs} configurations, {args.resamples} resamples "
          f"(plain loop timed on {args.reference_resamples} resamples and scaled)\n")
    print("| protocol | classes | vectorised s | plain loop s (scaled) | speed-up | max abs diff on shared resamples |")
    print("|---|---|---|---|---|---|")
    for protocol, fast, slow, agree in rows:
        print(f"| {protocol} | {bs.num_classes(protocol)} | {fast:.2f} | {slow:.0f} | {slow / fast:.0f}x | {agree:.1e} |")
    print(f"\nper-image statistics file for these shapes (3 protocols): {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
