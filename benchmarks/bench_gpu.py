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
4. bf16 against float32 on the golden fixtures (when ../shared/golden exists):
   largest |difference| of the CAUSE window features and of the normalised
   depth, and the share of raw-cluster pixels that change.

Written before any GPU was lent to this project: the first GPU session runs it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

GOLDEN = Path(__file__).resolve().parents[2] / "shared" / "golden"


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
    from pseudo_labels import features
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
    from pseudo_labels import depth
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
    from pseudo_labels import clustering

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


def parity() -> dict[str, float] | None:
    """bf16 vs fp32 on the golden inputs with recipe weights (None without ../shared/golden)."""
    if not GOLDEN.is_dir():
        return None
    import importlib.util

    from PIL import Image

    from pseudo_labels import depth, features
    from refs.cause.model import CauseFeatures, head_state
    from refs.spidepth.model import SPIdepth

    spec = importlib.util.spec_from_file_location("recipe", GOLDEN / "recipe.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)

    def state(name: str) -> dict:
        return recipe.make_state_dict(recipe.spec_from_json(json.loads((GOLDEN / name).read_text())))

    model = CauseFeatures(recipe.modular_codebook()).eval()
    model.vit.load_state_dict(state("dinov2/dinov2_keys.json"))
    model.head.load_state_dict(head_state(state("cause_head/segment_tr_keys.json"), GOLDEN))
    model = model.cuda()
    image = features.preprocess(np.array(Image.open(GOLDEN / "test_image_256x512.png").convert("RGB")))
    fp32 = features.crop_features(model, [image], "cuda")[0]
    bf16 = features.crop_features(model, [image], "cuda", autocast=True)[0]
    with np.load(GOLDEN / "kmeans_centroids_k80.npz") as npz:
        centroids = npz["centroids"]
    a, _ = features.assign_clusters(features.full_resolution(fp32), centroids)
    b, _ = features.assign_clusters(features.full_resolution(bf16), centroids)
    spid = SPIdepth("convnextv2_atto").eval()
    spid.encoder.load_state_dict(state("spidepth/spidepth_atto_encoder_keys.json"))
    spid.depth.load_state_dict(state("spidepth/spidepth_atto_depth_keys.json"))
    spid = spid.cuda()
    x = torch.from_numpy(depth.network_input(np.array(Image.open(GOLDEN / "spidepth/spidepth_input_1024x320.png"))))[None].cuda()
    plain = depth.normalised_depth(depth.predict(spid, x)[0])
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = depth.normalised_depth(depth.predict(spid, x)[0])
    return {"cause_window_features_max_abs": float(np.abs(fp32.maps - bf16.maps).max()),
            "raw_cluster_pixels_changed": float((a != b).mean()),
            "normalised_depth_max_abs (atto stand-in; near-flat depth magnifies noise)": float(np.abs(plain - low).max())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--kmeans_vectors", type=int, default=1_000_000)
    args = parser.parse_args()
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
    errors = parity()
    if errors:
        print("\n| bf16 vs fp32 (golden inputs) | value |\n|---|---|")
        for name, value in errors.items():
            print(f"| {name} | {value:.3g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
