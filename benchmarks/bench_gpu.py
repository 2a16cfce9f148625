"""GPU benchmarks: CAUSE features, SPIdepth, k-means, and the bf16 parity error, on one CUDA device.

    .venv/bin/python benchmarks/bench_gpu.py [--images 32] [--batch_size 8]

Without a CUDA device it says so and exits 0 (nothing is measured on a CPU
here; the CPU tables are in benchmarks/README.md). On a GPU it prints Markdown
tables to paste into benchmarks/RESULTS.md with the device name:

1. CAUSE features at 1024x2048 (3 windows x 2 mirrors per image), random
   full-size weights: the reference's batch-1 loop, batched float32, batched
   bf16 autocast; images/s and peak memory;
2. SPIdepth (ConvNeXtV2-H) at 1024x320 with flip averaging, float32 and bf16;
3. k-means on 1M x 90 unit vectors: MiniBatchKMeans (CPU) and torch on the GPU;
4. bf16 against float32 on the golden fixtures (when ../shared/golden exists),
   for this repository's precision policy (backbones in bf16, the CAUSE head
   and the depth decoder in float32) and for plain autocast (everything bf16):
   CAUSE window-feature error, the share of raw k=80 cluster pixels that
   change, and the raw-depth error relative to the depth range.
   ``--parity_only --parity_device cpu`` measures this table alone on a CPU
   (bf16 autocast on CPU kernels; a GPU's kernels round differently).

Written before any GPU was lent to this project: the first GPU session runs it.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

DEFAULT_GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"


def timed_cuda(function, repeats: int = 1) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(seconds per call, peak MiB) of ``function`` on the current CUDA device, after one warm-up."""
    function()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats, torch.cuda.max_memory_allocated() / 2**20


def cause_rows(images: int, batch_size: int) -> list[tuple[str, float, float]]:
    from pseudo_labels.semantics import features
    from refs.cause.model import CauseFeatures

    torch.manual_seed(0)
    model = CauseFeatures(torch.randn(2048, 768)).eval().cuda()
    rng = np.random.default_rng(0)
    frames = [features.preprocess(rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8)) for _ in range(images)]

    def reference() -> None:
        with torch.inference_mode():
            for frame in frames:
                for y, x in features.window_grid(frame.shape[1:]):
                    crop = torch.from_numpy(np.ascontiguousarray(frame[:, y:y + 322, x:x + 322]))[None].cuda()
                    (model(crop) + model(crop.flip(-1)).flip(-1)) / 2

    def batched(amp: bool) -> None:
        for start in range(0, images, batch_size):
            features.crop_features(model, frames[start:start + batch_size], "cuda", autocast=amp)

    rows = []
    for name, function in (("reference loop (batch 1, fp32)", reference),
                           (f"batched ({batch_size} images), fp32", lambda: batched(False)),
                           (f"batched ({batch_size} images), bf16", lambda: batched(True))):
        seconds, peak = timed_cuda(function)
        rows.append((name, images / seconds, peak))
    return rows


def depth_rows(images: int, batch_size: int) -> list[tuple[str, float, float]]:
    from pseudo_labels.depth import spidepth as depth
    from refs.spidepth.model import SPIdepth

    torch.manual_seed(0)
    model = SPIdepth().eval().cuda()
    batch = torch.rand(batch_size, 3, 320, 1024, device="cuda")
    rows = []
    for name, amp in (("fp32", False), ("bf16", True)):
        def run() -> None:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                for _ in range(max(1, images // batch_size)):
                    depth.predict(model, batch, flip=True)
        seconds, peak = timed_cuda(run)
        rows.append((f"SPIdepth ConvNeXtV2-H, batch {batch_size} + flips, {name}", max(1, images // batch_size) * batch_size / seconds, peak))
    return rows


def kmeans_rows(count: int) -> list[tuple[str, float, float]]:
    from pseudo_labels.semantics import clustering

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((count, 90))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    rows = []
    start = time.perf_counter()
    _, _, inertia = clustering.fit_minibatch(vectors, 80)
    rows.append(("MiniBatchKMeans (CPU)", time.perf_counter() - start, inertia))
    start = time.perf_counter()
    _, _, inertia = clustering.fit_torch(vectors, 80, device="cuda")
    rows.append(("torch k-means (GPU, float32)", time.perf_counter() - start, inertia))
    return rows


class _Unguarded(torch.nn.Module):
    """A network without its float32 guard: under autocast the head/decoder run in bf16 too (plain autocast)."""

    def __init__(self, backbone: torch.nn.Module, head: torch.nn.Module, drop_cls: bool) -> None:
        super().__init__()
        self.backbone, self.head, self.drop_cls = backbone, head, drop_cls

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.backbone(x)
        return self.head(features[:, 1:] if self.drop_cls else features)


def parity(device: str = "cuda", golden: Path = DEFAULT_GOLDEN
           ) -> list[tuple[str, float, float, float, float, float]] | None:
    """bf16 vs fp32 on the golden inputs with the recipe weights, ours and plain autocast (None without golden).

    Rows: (precision policy, CAUSE max |diff|, CAUSE mean |diff| / mean |fp32|,
    share of raw k=80 cluster pixels that change, depth max |diff| / fp32 range,
    depth mean |diff| / fp32 range).
    """
    if not golden.is_dir():
        return None
    import importlib.util

    from PIL import Image

    from pseudo_labels.depth import spidepth as depth
    from pseudo_labels.semantics import features
    from refs.cause.model import CauseFeatures, head_state
    from refs.spidepth.model import SPIdepth

    spec = importlib.util.spec_from_file_location("recipe", golden / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)

    def state(name: str) -> dict:
        return recipe.make_state_dict(recipe.spec_from_json(json.loads((golden / name).read_text())))

    cause = CauseFeatures(recipe.modular_codebook()).eval()
    cause.vit.load_state_dict(state("dinov2/dinov2_keys.json"))
    cause.head.load_state_dict(head_state(state("cause_head/segment_tr_keys.json"), golden))
    cause = cause.to(device)
    spid = SPIdepth("convnextv2_atto").eval()
    spid.encoder.load_state_dict(state("spidepth/spidepth_atto_encoder_keys.json"))
    spid.depth.load_state_dict(state("spidepth/spidepth_atto_depth_keys.json"))
    spid = spid.to(device)
    image = features.preprocess(np.array(Image.open(golden / "test_image_256x512.png").convert("RGB")))
    frame = np.array(Image.open(golden / "spidepth/spidepth_input_1024x320.png"))
    x = torch.from_numpy(depth.network_input(frame))[None].to(device)
    with np.load(golden / "kmeans_centroids_k80.npz") as npz:
        centroids = npz["centroids"]

    def run(cause_net: torch.nn.Module, depth_net: torch.nn.Module, amp: bool) -> tuple:
        windows = features.crop_features(cause_net, [image], device, autocast=amp)[0]
        clusters, _ = features.assign_clusters(features.full_resolution(windows), centroids)
        with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            raw = depth.predict(depth_net, x)[0].cpu().numpy()
        return windows.maps, clusters, raw

    maps32, clusters32, raw32 = run(cause, spid, False)
    spread = float(raw32.max() - raw32.min())
    rows = []
    for policy, cause_net, depth_net in (
            ("backbones bf16, CAUSE head + depth decoder fp32 (--amp)", cause, spid),
            ("plain autocast: everything bf16", _Unguarded(cause.vit, cause.head, True),
             _Unguarded(spid.encoder, spid.depth, False))):
        maps, clusters, raw = run(cause_net, depth_net, True)
        rows.append((policy, float(np.abs(maps - maps32).max()),
                     float(np.abs(maps - maps32).mean() / np.abs(maps32).mean()), float((clusters != clusters32).mean()),
                     float(np.abs(raw - raw32).max()) / spread, float(np.abs(raw - raw32).mean()) / spread))
    return rows


def print_parity(rows: list[tuple[str, float, float, float, float, float]]) -> None:
    print("\n| bf16 vs fp32, golden inputs + recipe weights | CAUSE max abs | CAUSE mean rel | cluster px changed "
          "| depth max / range | depth mean / range |\n|---|---|---|---|---|---|")
    for policy, *values in rows:
        print(f"| {policy} | " + " | ".join(f"{v:.3g}" for v in values) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--kmeans_vectors", type=int, default=1_000_000)
    parser.add_argument("--parity_only", action="store_true",
                        help="only the bf16-vs-fp32 table, on --parity_device (runs on a CPU too)")
    parser.add_argument("--parity_device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN, help="the parity fixtures (../shared/golden)")
    args = parser.parse_args()
    if args.parity_only:
        if args.parity_device == "cuda" and not torch.cuda.is_available():
            print("no CUDA device: nothing measured (pass --parity_device cpu for CPU bf16 autocast)")
            return 0
        rows = parity(args.parity_device, args.golden)
        if rows is None:
            print(f"no golden fixtures at {args.golden}: nothing measured")
            return 0
        cpu = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
        print(f"device: {torch.cuda.get_device_name(0) if args.parity_device == 'cuda' else cpu}, "
              f"torch {torch.__version__}")
        print_parity(rows)
        return 0
    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured (run this on a GPU machine; CPU results are in benchmarks/README.md)")
        return 0
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print("| workload | images/s | peak MiB |\n|---|---|---|")
    for name, rate, peak in cause_rows(args.images, args.batch_size) + depth_rows(args.images, args.batch_size):
        print(f"| {name} | {rate:.1f} | {peak:.0f} |")
    print(f"\n| k-means, k=80, {args.kmeans_vectors} x 90 | s | inertia |\n|---|---|---|")
    for name, seconds, inertia in kmeans_rows(args.kmeans_vectors):
        print(f"| {name} | {seconds:.1f} | {inertia:.1f} |")
    rows = parity("cuda", args.golden)
    if rows:
        print_parity(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
