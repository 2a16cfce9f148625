"""Peak memory of the instance stage on an image with thousands of instances: streamed masks vs stacked masks.

    .venv/bin/python benchmarks/bench_instance_memory.py [--instances 2000]

Writes one 512x1024 trainId map holding a grid of separate car boxes (about
``--instances`` of them) on road, with flat depth, then runs, each in a fresh
process that reports its own peak RSS:

1. ``generate_depth_guided_instances.py`` as shipped: the (N, H*W) bool masks of
   the ``.npz`` are streamed row by row into the file (``fileio.RowStream``);
2. the straightforward reference: the same split, the masks stacked into one
   dense (N, H*W) array, then written with ``np.savez_compressed``.

Both write the same arrays (checked). Prints a table; nothing is asserted by the tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from pseudo_labels.core.fileio import write_npy, write_png

SIZE = (512, 1024)
CAR, ROAD = 13, 0


def write_scene(root: Path, instances: int) -> tuple[Path, Path]:
    """A val image's trainId map with a grid of car boxes (2 px road between them) and its flat depth."""
    rows = max(1, int(round(np.sqrt(instances * SIZE[0] / SIZE[1]))))
    cols = int(np.ceil(instances / rows))
    semantic = np.full(SIZE, ROAD, np.uint8)
    step_y, step_x = SIZE[0] // rows, SIZE[1] // cols
    for r in range(rows):
        for c in range(cols):
            if r * cols + c < instances:
                semantic[r * step_y: (r + 1) * step_y - 2, c * step_x: (c + 1) * step_x - 2] = CAR
    stem = "frankfurt_000000_000001"
    write_png(root / "sem" / "frankfurt" / f"{stem}.png", semantic)
    write_npy(root / "depth" / "frankfurt" / f"{stem}.npy", np.full(SIZE, 0.5, np.float32))
    return root / "sem", root / "depth"


STREAMED = """
import json, resource, sys, time
from pseudo_labels.cli.instances import main
start = time.perf_counter()
main(["--semantic_dir", sys.argv[1], "--depth_dir", sys.argv[2], "--output_dir", sys.argv[3], "--min_area", "10",
      "--grad_threshold", "0.20", "--workers", "1"])
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

STACKED = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.export import training as export
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.splitting import split
from pseudo_labels.formats.semantic import read_label_png
start = time.perf_counter()
path = next(Path(sys.argv[1]).rglob("*.png"))
semantic = read_label_png(path)
depth = load_depth(next(Path(sys.argv[2]).rglob("*.npy")), cs.WORKING_SIZE)
found = split(semantic, cs.THING_TRAIN_IDS, depth, SplitSettings(0.05, 10))
masks = np.stack([m.ravel() for m in found.masks()])
Path(sys.argv[3]).mkdir(parents=True, exist_ok=True)
np.savez_compressed(Path(sys.argv[3]) / "stacked.npz", masks=masks)
print(json.dumps({"seconds": time.perf_counter() - start, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "count": len(found)}))
"""


def run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        semantic_dir, depth_dir = write_scene(root, args.instances)
        streamed = run(STREAMED, str(semantic_dir), str(depth_dir), str(root / "streamed"))
        stacked = run(STACKED, str(semantic_dir), str(depth_dir), str(root / "stacked"))
        with np.load(next((root / "streamed").rglob("*.npz"))) as a, np.load(root / "stacked" / "stacked.npz") as b:
            same = bool(np.array_equal(a["masks"], b["masks"]))
            count = len(a["masks"])
    print(f"{count} instances in one 512x1024 image; masks identical: {same}\n")
    print("| variant | peak RSS (MB) | seconds |")
    print("|---|---|---|")
    print(f"| stacked dense masks (reference) | {stacked['peak_mb']:.0f} | {stacked['seconds']:.2f} |")
    print(f"| streamed masks (shipped) | {streamed['peak_mb']:.0f} | {streamed['seconds']:.2f} |")


if __name__ == "__main__":
    main()
