"""Depth throughput and peak memory: the reference-style loop against batched inference.

    .venv/bin/python benchmarks/bench_depth.py                       # CPU, atto stand-in
    .venv/bin/python benchmarks/bench_depth.py --device cuda --backbone convnextv2_huge.fcmae_ft_in22k_in1k_384 --amp

Random weights (speed does not depend on them). Each row runs in a fresh
process so that its peak memory is its own (CPU: max RSS; CUDA: peak allocated):

* reference loop: one image at a time, the mirrored pass as a second forward;
* this toolkit: ``--batch_size`` images with their mirrors in one batch
  (``pseudo_labels.depth.spidepth.predict``), with and without flip averaging.

Pre- and post-processing (LANCZOS resize, min-max) are included. Prints a table.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def worker(args: argparse.Namespace) -> dict:
    from pseudo_labels.depth import spidepth as depth
    from refs.spidepth.model import SPIdepth

    torch.manual_seed(0)
    device = torch.device(args.device)
    model = SPIdepth(args.backbone).eval().to(device)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8) for _ in range(args.images)]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=args.amp and device.type == "cuda")

    def run(batch_frames: list[np.ndarray]) -> None:
        x = torch.from_numpy(np.stack([depth.network_input(f) for f in batch_frames])).to(device)
        with autocast:
            if args.mode == "reference":
                with torch.inference_mode():
                    raw = ((model(x) + model(x.flip(-1)).flip(-1)) / 2)[:, 0].float()
            else:
                raw = depth.predict(model, x, flip=args.mode == "batched")
        for r in raw:
            depth.normalised_depth(r)

    batch = 1 if args.mode == "reference" else args.batch_size
    run(frames[:batch])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for i in range(0, len(frames), batch):
        run(frames[i:i + batch])
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    return {"seconds": seconds, "images": len(frames), "peak_mib": peak, "batch": batch, "device": name}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", default="convnextv2_atto")
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=4)
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA)")
    parser.add_argument("--mode", default=None, choices=("reference", "batched", "batched_noflip"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(worker(args)))
        return
    rows = []
    for mode in ("reference", "batched", "batched_noflip"):
        command = [sys.executable, __file__, "--mode", mode, "--device", args.device, "--backbone", args.backbone,
                   "--images", str(args.images), "--batch_size", str(args.batch_size)] + (["--amp"] if args.amp else [])
        result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        rows.append((mode, result))
    device = rows[0][1]["device"]
    print(f"{args.backbone} on {device} ({torch.get_num_threads()} threads), {args.images} frames 1024x2048 -> "
          f"1024x320, {'bf16 autocast' if args.amp else 'float32'}")
    print("| path | batch | flip | images/s | s / image | peak memory (MiB) |")
    print("|---|---|---|---|---|---|")
    labels = {"reference": ("reference loop", "2 forwards"), "batched": ("batched", "in batch"),
              "batched_noflip": ("batched", "off")}
    for mode, r in rows:
        name, flip = labels[mode]
        print(f"| {name} | {r['batch']} | {flip} | {r['images'] / r['seconds']:.2f} | {r['seconds'] / r['images']:.3f} | "
              f"{r['peak_mib']:.0f} |")
    flip_cost = rows[1][1]["seconds"] / rows[2][1]["seconds"]
    print(f"flip averaging costs {flip_cost:.2f}x the time of a single pass")


if __name__ == "__main__":
    main()
