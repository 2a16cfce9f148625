"""CUPS' own panoptic metric on a CUPS-format export: the reference for ``pseudo-labels evaluate-cups``.

Runs in a side virtual environment with CUPS' metric stack, NOT in this repository's
.venv, and imports nothing from ``pseudo_labels``::

    python3.11 -m venv side-venv
    PIP_CONSTRAINT=/dev/null side-venv/bin/pip install torch==2.1.2 torchmetrics==1.3.1 \
        scipy "numpy<2" pillow
    # a CUPS checkout (github.com/visinf/cups); detectron2 and kornia are not needed
    PYTHONPATH=/path/to/cups side-venv/bin/python benchmarks/cups_reference.py \
        --cityscapes_root R --split val --export_dir R/cups_pseudo_labels_k80 \
        --resolution 1024x2048 --thing_stuff_threshold 0.08 --output ref.json

The metric is CUPS' ``PanopticQualitySemanticMatching`` itself, loaded from
``cups/metrics/panoptic_quality.py`` (found on PYTHONPATH) by file, because ``import cups``
pulls in detectron2. ``remap_ids`` is CUPS' own too (``cups/scene_flow_2_se3/utils.py``,
torch-only). The rest is written here after CUPS' code:

* GT: ``CityscapesPanopticValidation`` + ``load_panoptic_cityscapes_labels`` (cups/data/cityscapes.py):
  cities in ``os.listdir`` order, sorted files containing ``instanceIds.png``; labelId =
  v//1000 if v > 1000 else v, then labelIds 7..33 -> 0..26, others 255; instance = v-23999 if
  v >= 24000 else 0, remap_ids; ``F.interpolate(nearest, scale_factor)`` on both maps; the centre
  crop is the identity at the three supported resolutions (checked); remap_ids again.
* Thing/stuff split: ``PseudoLabelDataset.__init__`` (cups/data/pseudo_label_dataset.py): the
  ``.pt`` files in ``os.listdir`` order, ratio = inside/(all+1e-6), ``torch.sort`` descending,
  normalised, n = argmin(dist > threshold).
* Label space and metric arguments: ``UnsupervisedModel.__init__`` (cups/pl_model_pseudo.py):
  stuffs[i] -> i, things[j] -> S+j, prototypes ``set(tuple(range(...)))``; val.py: batches of 4,
  27 classes, ``classes_mask=None``; configs/val_cityscapes.yaml: cache on the CPU.

The JSON holds percentages (x100, unrounded), per-class TP/FP/FN/iou_sum in class-id order,
both assignments, the split, and wall time / peak RSS of ``update`` + ``compute``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
import torchmetrics
from PIL import Image

CLASS_NAMES = (
    "road", "sidewalk", "parking", "rail track", "building", "wall", "fence", "guard rail", "bridge",
    "tunnel", "pole", "polegroup", "traffic light", "traffic sign", "vegetation", "terrain", "sky",
    "person", "rider", "car", "truck", "bus", "caravan", "trailer", "train", "motorcycle", "bicycle",
)  # fmt: skip
THINGS = {c for c in range(17, 27)}  # has_instances, labelId - 7
STUFFS = {c for c in range(0, 17)}
RESOLUTIONS = {"1024x2048": (1024, 2048), "512x1024": (512, 1024), "640x1280": (640, 1280)}
SCALES = {"1024x2048": 1.0, "512x1024": 0.5, "640x1280": 0.625}  # CUPS' VAL_SCALE on 1024x2048 GT
BATCH = 4  # val.py eval_batch_size
VOID = 255


def load_cups_file(relative: str, name: str) -> ModuleType:
    """Load one file of the CUPS checkout on PYTHONPATH without running ``cups/__init__.py``."""
    for entry in sys.path:
        path = Path(entry or ".") / relative
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise SystemExit(f"{relative} not found on PYTHONPATH: set PYTHONPATH to a CUPS checkout")


PQ_MODULE = load_cups_file("cups/metrics/panoptic_quality.py", "cups_panoptic_quality")
REMAP_IDS = load_cups_file("cups/scene_flow_2_se3/utils.py", "cups_sf_utils").remap_ids


def gt_files(root: Path, split: str) -> list[Path]:
    """GT instanceIds files in CUPS' dataset order."""
    labels = root / "gtFine" / split
    files: list[Path] = []
    for city in os.listdir(labels):
        if (labels / city).is_dir():
            files += [labels / city / f for f in sorted(os.listdir(labels / city)) if "instanceIds.png" in f]
    return files


def resize_nearest(label: torch.Tensor, scale: float) -> torch.Tensor:
    """[H, W] int64 -> resized [h, w] int64, as CUPS: float, F.interpolate nearest with scale_factor."""
    return F.interpolate(label[None, None].float(), scale_factor=scale, mode="nearest").long()[0, 0]


def load_gt(path: Path, scale: float, size: tuple[int, int]) -> torch.Tensor:
    """GT panoptic pair [H, W, 2] (class, instance) as CUPS' CityscapesPanopticValidation gives it."""
    value = torch.from_numpy(np.array(Image.open(path)).astype(np.int64))
    label_id = torch.where(value > 1000, value // 1000, value)
    table = torch.full((34,), VOID, dtype=torch.long)
    table[7:] = torch.arange(27)
    semantic = table[label_id.clip(min=0)]
    semantic[label_id == -1] = VOID
    instance = REMAP_IDS(torch.where(value >= 24000, value - (24000 - 1), 0))
    semantic, instance = resize_nearest(semantic, scale), resize_nearest(instance, scale)
    if tuple(semantic.shape) != size:  # kornia CenterCrop would crop; never needed at 1024x2048 GT
        raise SystemExit(f"{path}: resized GT is {tuple(semantic.shape)}, not {size}")
    return torch.stack((semantic, REMAP_IDS(instance)), dim=-1)


def thing_stuff_split(export: Path, threshold: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """PseudoLabelDataset's split of the pseudo classes from the export's .pt files."""
    tensors = [torch.load(export / p) for p in os.listdir(export) if ".pt" in p]
    inside = torch.stack([t["distribution inside object proposals"] for t in tensors]).sum(dim=0)
    total = torch.stack([t["distribution all pixels"] for t in tensors]).sum(dim=0)
    distribution, indices = torch.sort(inside / (total + 1e-06), descending=True)
    distribution = distribution / distribution.sum()
    n = (distribution > threshold).float().argmin()
    return tuple(indices[:n].tolist()), tuple(indices[n:].tolist())


def load_prediction(export: Path, stem: str, lut: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Export maps of one image -> [H, W, 2] in the model label space, resized to ``size``."""
    semantic = torch.from_numpy(np.array(Image.open(export / f"{stem}_leftImg8bit_semantic.png")).astype(np.int64))
    instance = torch.from_numpy(np.array(Image.open(export / f"{stem}_leftImg8bit_instance.png")).astype(np.int64))
    if semantic.shape != instance.shape:
        raise SystemExit(f"{stem}: semantic {tuple(semantic.shape)} and instance {tuple(instance.shape)} differ")
    scale = size[0] / semantic.shape[0]
    semantic = lut[semantic.clip(0, lut.numel() - 1)]
    semantic, instance = resize_nearest(semantic, scale), resize_nearest(instance, scale)
    if tuple(semantic.shape) != size:
        raise SystemExit(f"{stem}: export resized by {scale} is {tuple(semantic.shape)}, not {size}")
    return torch.stack((semantic, instance), dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cityscapes_root", type=Path, required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--export_dir", type=Path, required=True)
    parser.add_argument("--resolution", choices=sorted(RESOLUTIONS), default="1024x2048")
    parser.add_argument("--thing_stuff_threshold", type=float, default=0.08)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="first N images in CUPS' order")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    size, scale = RESOLUTIONS[args.resolution], SCALES[args.resolution]

    things, stuffs = thing_stuff_split(args.export_dir, args.thing_stuff_threshold)
    n_stuff, n_thing = len(stuffs), len(things)
    if n_stuff == 0 or n_thing == 0:  # CUPS' metric indexes with torch.as_tensor([]) (float) and raises
        raise SystemExit(f"threshold {args.thing_stuff_threshold}: {n_thing} thing / {n_stuff} stuff pseudo "
                         "classes; CUPS cannot evaluate this split (IndexError in _matching_with_separation)")
    k = n_stuff + n_thing
    lut = torch.full((256 if k < 256 else k + 1,), VOID, dtype=torch.long)  # ids outside the K clusters -> void
    lut[torch.tensor(stuffs)] = torch.arange(n_stuff)
    lut[torch.tensor(things)] = torch.arange(n_thing) + n_stuff
    classes = range(n_stuff + n_thing)  # as UnsupervisedModel.__init__
    stuff_pseudo, thing_pseudo = tuple(classes[:n_stuff]), tuple(classes[n_stuff:])
    metric = PQ_MODULE.PanopticQualitySemanticMatching(
        things=THINGS, stuffs=STUFFS, num_clusters=len(thing_pseudo) + len(stuff_pseudo),
        things_prototype=set(thing_pseudo), stuffs_prototype=set(stuff_pseudo),
        cache_device="cpu", classes_mask=None,
    )  # fmt: skip

    files = gt_files(args.cityscapes_root, args.split)[: args.limit]
    seconds = 0.0
    for start in range(0, len(files), BATCH):
        batch = files[start : start + BATCH]
        stems = [f.name.replace("_gtFine_instanceIds.png", "") for f in batch]
        target = torch.stack([load_gt(f, scale, size) for f in batch])
        preds = torch.stack([load_prediction(args.export_dir, s, lut, size) for s in stems])
        tic = time.perf_counter()
        metric.update(preds, target)
        seconds += time.perf_counter() - tic
    tic = time.perf_counter()
    pq, sq, rq, pq_c, sq_c, rq_c, pq_t, sq_t, rq_t, pq_s, sq_s, rq_s, miou, acc, assignment, _ = metric.compute()
    assignment_miou = metric._matching_no_separation()
    seconds += time.perf_counter() - tic

    state = {c: metric.cat_id_to_continuous_id[c] for c in range(27)}  # class id -> torchmetrics state index
    per_class = {
        name: {
            "pq": 100 * pq_c[c].item(), "sq": 100 * sq_c[c].item(), "rq": 100 * rq_c[c].item(),
            "tp": int(metric.true_positives[state[c]]), "fp": int(metric.false_positives[state[c]]),
            "fn": int(metric.false_negatives[state[c]]), "iou_sum": float(metric.iou_sum[state[c]]),
        }
        for c, name in enumerate(CLASS_NAMES)
    }  # fmt: skip
    scalars = dict(pq=pq, sq=sq, rq=rq, pq_things=pq_t, sq_things=sq_t, rq_things=rq_t,
                   pq_stuff=pq_s, sq_stuff=sq_s, rq_stuff=rq_s, miou=miou, acc=acc)  # fmt: skip
    result = {key: 100 * value.item() for key, value in scalars.items()}
    result.update(
        per_class=per_class, assignment_pq=assignment.tolist(), assignment_miou=assignment_miou.tolist(),
        things=list(things), stuffs=list(stuffs), images=len(files), resolution=args.resolution,
        thing_stuff_threshold=args.thing_stuff_threshold, seconds=seconds,
        seconds_per_image=seconds / max(len(files), 1),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        versions={"torch": torch.__version__, "torchmetrics": torchmetrics.__version__,
                  "python": sys.version.split()[0]},
    )  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{len(files)} images at {args.resolution}: PQ {result['pq']:.4f} SQ {result['sq']:.4f} "
          f"RQ {result['rq']:.4f} mIoU {result['miou']:.4f} acc {result['acc']:.4f}; "
          f"{n_thing} thing / {n_stuff} stuff pseudo classes; {seconds:.1f} s "
          f"({result['seconds_per_image']:.2f} s/image), peak RSS {result['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
