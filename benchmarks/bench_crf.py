"""Dense-CRF cost per image at the working size (322 x 644 for Cityscapes), against plain argmax.

    .venv/bin/python benchmarks/bench_crf.py [--images 3]

Random features and centroids on a synthetic 1024x2048 street image: the CRF's
time depends on the label count and the image size, not on the values. Rows:
argmax of the similarities (``--skip_crf``), CRF over the 19 mapped classes,
CRF over k = 80 and k = 300 raw clusters.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pseudo_labels.semantics import crf, features
from pseudo_labels.data.synthetic import make_scene


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    args = parser.parse_args()
    if not crf.available():
        print("pydensecrf is not installed (pip install -r requirements-crf.txt): nothing measured")
        return 0
    rng = np.random.default_rng(0)
    rgb = features.working_rgb(make_scene(np.random.default_rng(1), 1024, 2048).rgb)
    height, width = rgb.shape[:2]
    print(f"working size {height}x{width}, {args.images} images, {torch.get_num_threads()} torch threads\n")
    print("| path | labels | s / image |\n|---|---|---|")
    for name, labels in (("argmax (--skip_crf)", 80), ("CRF, mapped classes", 19), ("CRF, raw clusters", 80),
                         ("CRF, raw clusters", 300)):
        logits = torch.from_numpy(rng.uniform(-1, 1, (labels, height, width)).astype(np.float32))
        start = time.perf_counter()
        for _ in range(args.images):
            if name.startswith("argmax"):
                logits.argmax(dim=0).numpy()
            else:
                crf.refined_labels(rgb, logits, crf.SIMILARITY_SCALE)
        print(f"| {name} | {labels} | {(time.perf_counter() - start) / args.images:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
