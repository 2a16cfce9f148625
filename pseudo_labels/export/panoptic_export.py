"""Panoptic pseudo-labels of a split, in Cityscapes panoptic format or in the original's class*1000+instance maps.

Three runs, one per interface of ``pseudo-labels panoptic``
(``generate_panoptic_pseudolabels.py``):

* :func:`write_panoptic_split` (``--cityscapes_root``): per image, the
  semantics (trainIds, or raw clusters through ``cluster_to_class``) and the
  depth-guided instances at 512x1024 are assembled as the sweep's official
  protocol assembles its prediction, upsampled to the target size and written
  as ``{out}/{split}/{stem}_panoptic.png`` + ``{out}/{split}.json`` (COCO
  panoptic) and ``{out}/{split}/{stem}_panoptic.npy`` (int32 ``trainId * 1000
  + n``, -1 void). A shard writes ``{out}/{split}.shard-i-of-N.json``. Frames
  of other layouts (a folder, KITTI, BDD100K) are split at their own working
  size, written at their own size by default, named by
  :func:`~pseudo_labels.data.frames.cityscapes_names`, and the JSON gains COCO's
  ``images`` list (``id``, ``file_name`` below the image root, ``height``, ``width``);
* :func:`merge_shards`: the shards' JSON files -> the ``{split}.json`` one run
  writes, byte for byte;
* :func:`write_original_panoptic` (``--semantic_dir``): the original's
  ``{city}/{stem}.npy``, ``_panoptic.png`` and ``stats.json``, assembled by
  :mod:`pseudo_labels.export.original_panoptic`.

Reads no ground truth.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import is_json_int, read_json, remove_stale_temp_files, sha256_optional, write_json, write_npy, write_png
from pseudo_labels.core.manifest import RunManifest, RunOutputs
from pseudo_labels.core.parallel import (check_all_shards, check_partition, check_same_settings, default_workers,
                                         first_n, ordered_map, run_shard, shard_suffix, unsharded_path)
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import FrameSource, cityscapes_names, working_size
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.export import original_panoptic
from pseudo_labels.export.cityscapes_panoptic import PANOPTIC_SUFFIX, write_prediction_json, write_prediction_png
from pseudo_labels.formats.depth import load_depth
from pseudo_labels.formats.instance_npz import read_instance_masks
from pseudo_labels.formats.panoptic_json import annotations_by_image
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_and_things
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.splitting import split
from pseudo_labels.instances.units import Units, decide_units, semantic_and_depth

log = logging.getLogger("panoptic")  # the command's name: log lines read as they did when this lived in the command

VOID_VALUE = -1
DEFAULT_OUTPUT_SUBDIR = "panoptic_pseudolabels"


ARRAY_SUFFIX = "_panoptic.npy"
"""Beside each ``{stem}_panoptic.png``: the class*1000+instance array of the same labels."""
PANOPTIC_ENDS = (PANOPTIC_SUFFIX, ARRAY_SUFFIX)
PANOPTIC_PATTERNS = tuple(f"*{end}" for end in PANOPTIC_ENDS)


def class_instance_array(segments: pan.Segments, source: str = "image") -> np.ndarray:
    """int32 ``trainId * 1000 + n`` (n = 0 for stuff, 1.. per class for instances), -1 for void.

    n must stay below 1000, or the ids of one class run into the next
    class's: more instances of a class stop with an InputError naming ``source``.
    """
    number = np.zeros(segments.count + 1, np.int64)
    for class_id in cs.THING_TRAIN_IDS:
        members = np.flatnonzero(segments.classes == class_id)
        if len(members) >= cs.INSTANCE_OFFSET:
            raise InputError(f"{source}: {len(members)} instances of {cs.CLASS_NAMES[class_id]} do not fit the "
                             f"class*{cs.INSTANCE_OFFSET}+instance ids (at most {cs.INSTANCE_OFFSET - 1}). "
                             f"Raise --min_area.")
        number[members] = np.arange(1, len(members) + 1)
    values = segments.classes.astype(np.int64) * cs.INSTANCE_OFFSET + number
    values[0] = VOID_VALUE
    return values[segments.ids].astype(np.int32)


@dataclass(frozen=True)
class LabelSettings:
    """What every image of one run shares."""

    out: Path
    units: Units
    split: SplitSettings
    target: tuple[int, int] | None
    """None: each map's own size (frames of other layouts)."""
    min_stuff_area: int = 1
    min_new_pixels: int = 1
    space: cs.ClassSpace = cs.TRAIN_ID_CLASSES
    """The classes written: trainIds, or label-free clusters (:func:`~pseudo_labels.data.cityscapes.cluster_classes`)."""


def label_image(settings: LabelSettings, name: str, semantic_path: Path, depth_path: Path) -> dict:
    """Write one image's panoptic PNG and class*1000+instance array under its Cityscapes-style ``name`` (its
    ``image_id``: :func:`~pseudo_labels.data.frames.cityscapes_names`); returns its JSON annotation.

    Label-free clusters keep their ids: the stuff clusters are the stuff segments, the merged thing clusters
    are split and each instance is named by its majority cluster, as the CUPS export names them."""
    units = settings.units
    read = units.read(semantic_path)
    size = working_size(*read.shape)  # 512x1024 for Cityscapes
    labels = cs.resize_nearest(read, size)
    semantic = units.unit_map(labels, semantic_path)
    depth = load_depth(depth_path, size) if settings.split.uses_depth else None
    found = units.named(split(semantic, units.things, depth, settings.split), labels)
    segments = pan.predicted_segments(labels if units.merged else semantic, found, settings.min_stuff_area,
                                      settings.min_new_pixels, settings.space).resized(settings.target or read.shape)
    write_npy(settings.out / f"{name}{ARRAY_SUFFIX}", class_instance_array(segments, str(semantic_path)))
    return write_prediction_png(settings.out, name, segments)


def clusters_entry(space: cs.ClassSpace) -> dict:
    """A label-free shard's ``clusters`` entry (how many, which are things), so the merge writes its categories."""
    if space == cs.TRAIN_ID_CLASSES:
        return {}
    return {"clusters": {"count": len(space.names), "things": list(space.things)}}


def image_entry(name: str, image: Path, source: FrameSource, root: Path, annotation: dict, out: Path) -> dict:
    """COCO's ``images`` entry of a frame: its name as id, its path below the image root, the labels' size."""
    with Image.open(out / annotation["file_name"]) as png:
        width, height = png.size
    folder = source.root or root
    return {"id": name, "file_name": Path(image).relative_to(folder).as_posix(), "height": height, "width": width}


def label_job(job: tuple[LabelSettings, str, Path, Path]) -> dict:
    """:func:`label_image` on one ``(settings, name, semantic path, depth path)`` tuple (for worker processes)."""
    return label_image(*job)


def write_panoptic_split(root: Path, split_name: str, semantic_subdir: str, split_settings: SplitSettings, *,
                         centroids_path: Path | None = None, depth_subdir: str = cs.DEPTH_SUBDIR,
                         output_subdir: str = DEFAULT_OUTPUT_SUBDIR, target: tuple[int, int] | None = (1024, 2048),
                         min_stuff_area: int = 1, min_new_pixels: int = 1, limit: int | None = None,
                         num_shards: int = 1, shard_index: int = 0, workers: int | None = None,
                         overwrite: bool = False, manifest: RunManifest | None = None,
                         requested_tau: float | None = None, source: FrameSource = FrameSource(),
                         stuff_things: Path | None = None) -> Path:
    """Label ``{root}/{semantic_subdir}/{split_name}`` in Cityscapes panoptic format (see the module doc).

    ``split_settings`` with tau None reads no depth (connected components).
    ``min_stuff_area 64, min_new_pixels 10`` give the reference protocol's
    prediction, 1 and 1 the official one's. ``manifest`` (the command line's,
    or one made here) is claimed for ``{root}/{output_subdir}/{split_name}``;
    ``requested_tau`` is the tau it records when the split runs without depth
    (default ``split_settings.tau``). ``source`` says where the images are:
    other layouts than Cityscapes list them in the JSON's ``images``, and
    ``target`` None writes each frame at its own size. ``stuff_things`` (a
    label-free decision) reads raw clusters without classes: each cluster is a
    category (:func:`~pseudo_labels.export.cityscapes_panoptic.categories`).
    Returns the JSON written.
    """
    root = Path(root)
    semantic_files, depth_files, missing = semantic_and_depth(root, semantic_subdir, depth_subdir, split_name, limit)
    images = None if source.is_cityscapes else source.images_of(semantic_files, split_name, root)
    if missing and split_settings.uses_depth:
        raise InputError(f"{len(missing)} depth map(s) missing, e.g. {missing[:10]}; generate them or pass --cc_instances.")
    keys = run_shard(list(semantic_files), num_shards, shard_index)  # may be empty: more shards than images
    first = keys[0] if keys else next(iter(semantic_files))  # the units do not depend on the shard
    units = decide_units(read_label_png(semantic_files[first]), centroids_path, stuff_things,
                         str(semantic_files[first]))
    space = cs.TRAIN_ID_CLASSES
    if units.merged:  # label-free clusters: as many categories as the decision lists clusters
        assert stuff_things is not None
        clusters = max(sum(read_stuff_and_things(stuff_things), [])) + 1
        units = replace(units, max_id=min(units.max_id, clusters - 1))
        space = cs.cluster_classes(clusters, units.thing_clusters)
    out = root / output_subdir / split_name
    suffix = shard_suffix(num_shards, shard_index)
    settings = {"semantic_subdir": semantic_subdir, "centroids": sha256_optional(centroids_path),
                **({"stuff_things": sha256_optional(stuff_things)} if stuff_things else {}),
                "cc_instances": not split_settings.uses_depth,
                "grad_threshold": split_settings.tau if requested_tau is None else requested_tau,
                "min_area": split_settings.min_area, "dilation_iters": split_settings.dilation_iters,
                "depth_blur_sigma": split_settings.sigma, "target": list(target) if target else "each frame's size",
                "min_stuff_area": min_stuff_area, "min_new_pixels": min_new_pixels}
    manifest = manifest or RunManifest("panoptic", {
        "cityscapes_root": root, "split": split_name, "semantic_subdir": semantic_subdir,
        "centroids_path": centroids_path, "depth_subdir": depth_subdir, **split_settings.to_dict(),
        "output_subdir": output_subdir, "target": target, "min_stuff_area": min_stuff_area,
        "min_new_pixels": min_new_pixels, "limit": limit, "num_shards": num_shards, "shard_index": shard_index,
        "workers": workers, "overwrite": overwrite})
    names = cityscapes_names(list(semantic_files))  # every shard's images
    manifest.claim(out, settings, overwrite, name=f"manifest{suffix}.json",
                   inputs=(root / semantic_subdir / split_name, root / depth_subdir / split_name, centroids_path,
                           stuff_things,
                           *([] if images is None else [source.images_folder(split_name, root)])),
                   outputs=RunOutputs.of(PANOPTIC_PATTERNS, [out / f"{n}{end}" for n in names.values() for end in PANOPTIC_ENDS]))
    remove_stale_temp_files(out.parent, recursive=False)  # the folder of the prediction JSON
    shared = LabelSettings(out, units, split_settings, target, min_stuff_area, min_new_pixels, space)
    jobs = [(shared, names[key], semantic_files[key], depth_files[key]) for key in keys]
    annotations = list(tqdm(ordered_map(label_job, jobs, workers or default_workers()), total=len(jobs),
                            desc=f"panoptic {split_name}", unit="img"))
    json_path = root / output_subdir / f"{split_name}{suffix}.json"
    listed = {} if images is None else {"images": [image_entry(names[k], images[k], source, root, annotation, out)
                                                   for k, annotation in zip(keys, annotations)]}
    if suffix:
        write_prediction_json(json_path, annotations, space, shard={"index": shard_index, "count": num_shards,
                                                                     "keys": keys, "settings": settings,
                                                                     "depth_subdir": depth_subdir, **listed,
                                                                     **clusters_entry(space)})
    else:
        write_prediction_json(json_path, annotations, space, **listed)
    manifest.write(out, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote %d panoptic labels to %s", len(keys), out)
    if suffix:
        log.info("when every shard is done: python pseudo_labels/generate_panoptic_pseudolabels.py merge %s",
                 root / output_subdir / f"{split_name}.shard-*-of-{num_shards}.json")
    return json_path


SHARD_FIX = "Re-run that shard (the same flags, with its --num_shards/--shard_index)."


def _json_type(value: object) -> str:
    """The JSON name of a parsed value's type (for messages)."""
    names = {type(None): "null", bool: "true/false", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _shard_problem(shard: object) -> str | None:
    """What is wrong with a panoptic shard's ``shard`` entry, or None (index, count, keys, settings, depth_subdir)."""
    if not isinstance(shard, dict):
        return f"its 'shard' entry is {_json_type(shard)}, not an object"
    missing = [name for name in ("index", "count", "keys", "settings") if name not in shard]
    if missing:
        return f"its 'shard' entry has no {missing}"
    count, index = shard["count"], shard["index"]
    if not is_json_int(count) or count < 1:
        return f"shard.count is {count!r}, not an integer >= 1"
    if not is_json_int(index) or not 0 <= index < count:
        return f"shard.index is {index!r}, not an integer in 0..{count - 1}"
    if not isinstance(shard["keys"], list) or not all(isinstance(k, str) for k in shard["keys"]):
        return "shard.keys is not a list of image keys (strings)"
    if not isinstance(shard["settings"], dict):
        return f"shard.settings is {_json_type(shard['settings'])}, not an object"
    if not isinstance(shard.get("depth_subdir", ""), str):  # absent in shards of older runs
        return f"shard.depth_subdir is {shard['depth_subdir']!r}, not a string"
    clusters = shard.get("clusters", {"count": 1, "things": []})  # label-free shards only
    if not isinstance(clusters, dict) or not is_json_int(clusters.get("count")) or \
            not 1 <= clusters["count"] <= 256 or not isinstance(clusters.get("things"), list) or \
            not all(is_json_int(t) and 0 <= t < clusters["count"] for t in clusters["things"]):
        return "shard.clusters is not {'count': 1..256, 'things': [cluster ids]}"
    listed = shard.get("images", shard["keys"])  # frames of other layouts: one COCO image entry per key
    if not isinstance(listed, list) or len(listed) != len(shard["keys"]) or \
            not all(isinstance(entry, (dict, str)) for entry in listed):
        return "shard.images is not a list of image entries, one per key"
    return None


def read_panoptic_shard(path: Path) -> tuple[list[dict], dict]:
    """``(annotations, shard entry)`` of one ``{split}.shard-i-of-n.json``, checked; anything else is an InputError.

    The file must be a JSON object with an ``annotations`` list that passes the
    prediction JSON's rules (:func:`~pseudo_labels.formats.panoptic_json.annotations_by_image`:
    objects with an ``image_id``, a ``file_name`` string and a ``segments_info``
    list) and a ``shard`` object: integers ``index`` and ``count`` (0 <= index <
    count), ``keys`` (strings, one per annotation, in its order), ``settings``
    (an object) and, when present, ``depth_subdir`` (a string).
    """
    data = read_json(path, "a panoptic-label shard", SHARD_FIX)
    what = f"{path}: not a panoptic-label shard"
    if not isinstance(data, dict) or "shard" not in data:
        raise InputError(f"{what} (no 'shard' entry); pass the {{split}}.shard-i-of-n.json files a sharded run wrote.")
    if not isinstance(data.get("annotations"), list):
        got = _json_type(data["annotations"]) if "annotations" in data else "none"
        raise InputError(f"{what}: it needs an 'annotations' list, got {got}. {SHARD_FIX}")
    problem = _shard_problem(data["shard"])
    if problem:
        raise InputError(f"{what}: {problem}. {SHARD_FIX}")
    try:
        annotations_by_image(data["annotations"], path)  # the prediction JSON's rules for each annotation
    except InputError as exc:
        raise InputError(f"{exc} {SHARD_FIX}") from None
    annotations, shard = data["annotations"], data["shard"]
    if len(annotations) != len(shard["keys"]):
        raise InputError(f"{path}: {len(annotations)} annotations for {len(shard['keys'])} images; the file is "
                         f"damaged. {SHARD_FIX}")
    return annotations, shard


def merge_shards(shard_paths: list[Path], output: Path | None = None) -> Path:
    """Write the JSON a single run over all shards' images writes (default: the shards' name without the suffix).

    Every shard 0..n-1 of one run must be given once, each as
    :func:`read_panoptic_shard` checks it: the same settings and count, and
    images that are the deterministic partition of one list
    (:func:`~pseudo_labels.core.parallel.check_partition`); anything else is
    an InputError naming the files. Returns the path written.
    """
    if not shard_paths:
        raise InputError("no shard files given: pass every {split}.shard-i-of-n.json file of one run.")
    shard_paths = [Path(path) for path in shard_paths]
    parts = [read_panoptic_shard(path) for path in shard_paths]
    shards = [shard for _, shard in parts]
    check_same_settings([{**s["settings"], "shards": s["count"], **({"depth_subdir": s["depth_subdir"]} if
                          "depth_subdir" in s else {})} for s in shards], shard_paths, "runs (settings or inputs)")
    indices = [s["index"] for s in shards]
    check_all_shards(indices, shards[0]["count"], shard_paths)
    check_partition([s["keys"] for s in shards], indices, shards[0]["count"], shard_paths)
    keyed = sorted(((key, annotation) for annotations, s in parts for key, annotation in zip(s["keys"], annotations)),
                   key=lambda pair: pair[0])  # the keys are distinct (check_partition)
    names = cityscapes_names([key for key, _ in keyed])  # the run's names, as each shard gave them
    for (key, annotation), path in ((pair, path) for path, (annotations, s) in zip(shard_paths, parts)
                                    for pair in zip(s["keys"], annotations)):
        if str(annotation["image_id"]) != names[key]:
            raise InputError(f"{path}: the annotation of image {key} names image {annotation['image_id']!r}, not "
                             f"{names[key]!r}; the file is damaged. {SHARD_FIX}")
    output = output or unsharded_path(shard_paths[0], ".json")
    listed = {}
    if all("images" in s for s in shards):  # frames of another layout: COCO's images list, in the same order
        by_key = {key: entry for s in shards for key, entry in zip(s["keys"], s["images"])}
        listed = {"images": [by_key[key] for key, _ in keyed]}
    clusters = shards[0].get("clusters")  # the same in every shard: their settings name one stuff_things file
    space = cs.cluster_classes(clusters["count"], tuple(clusters["things"])) if clusters else cs.TRAIN_ID_CLASSES
    write_prediction_json(output, [annotation for _, annotation in keyed], space, **listed)
    log.info("merged %d shards (%d images) into %s", len(parts), len(keyed), output)
    return output


def write_original_panoptic(semantic_dir: Path, stuff_things: Path, output_dir: Path, *,
                            instance_dir: Path | None = None, limit: int | None = None, skip_missing: bool = False,
                            overwrite: bool = False, manifest: RunManifest | None = None) -> dict:
    """The original interface: per-image ``.npy`` and ``_panoptic.png`` under ``output_dir``, and ``stats.json``.

    Every ``*.png`` under ``semantic_dir`` (any subfolders) is assembled with
    the instance ``.npz`` at the same relative path under ``instance_dir``
    (connected components without one). A missing instance file stops the
    run unless ``skip_missing`` (the original then used connected components
    silently). Returns the stats.
    """
    if not semantic_dir.is_dir():
        raise InputError(f"--semantic_dir {semantic_dir}: folder not found.")
    stuff, things = read_stuff_and_things(stuff_things)
    files = first_n(sorted(semantic_dir.rglob("*.png")), limit)
    if not files:
        raise InputError(f"no PNG under {semantic_dir}: pass the folder of one split's semantic maps.")
    relative = [f.relative_to(semantic_dir) for f in files]
    instance_files = ([instance_dir / r.parent / f"{r.stem}.npz" for r in relative]
                      if instance_dir is not None else [None] * len(files))
    missing = [str(p) for p in instance_files if p is not None and not p.is_file()]
    if missing and not skip_missing:
        raise InputError(f"{len(missing)} instance file(s) missing, e.g. {missing[:5]}. Run "
                         f"generate_depth_guided_instances.py for them, or pass --skip_missing (connected components).")
    manifest = manifest or RunManifest("panoptic", {
        "semantic_dir": semantic_dir, "instance_dir": instance_dir, "stuff_things": stuff_things,
        "output_dir": output_dir, "limit": limit, "skip_missing": skip_missing, "overwrite": overwrite})
    manifest.claim(output_dir, {"semantic_dir": str(semantic_dir), "instance_dir": str(instance_dir),
                                "stuff_things": sha256_optional(stuff_things)}, overwrite,
                   inputs=(semantic_dir, instance_dir, stuff_things),
                   outputs=RunOutputs.of(("**/*.npy", "**/*_panoptic.png"),
                                         [output_dir / r.parent / f"{r.stem}{end}" for r in relative
                                          for end in (".npy", "_panoptic.png")]))
    per_image = []
    for path, rel, instance_path in tqdm(list(zip(files, relative, instance_files)), desc="panoptic", unit="img"):
        semantic = read_label_png(path)
        instances = None
        if instance_path is not None and instance_path.is_file():
            instances = read_instance_masks(instance_path, no_grid_is_empty=True)
        panoptic, segments = original_panoptic.panoptic_map(semantic, instances, stuff, things)
        write_npy(output_dir / rel.parent / f"{rel.stem}.npy", panoptic)
        write_png(output_dir / rel.parent / f"{rel.stem}_panoptic.png",
                  original_panoptic.visualisation(panoptic, segments))
        per_image.append(segments)
    stats = original_panoptic.run_statistics(per_image, stuff, things)
    write_json(output_dir / "stats.json", stats)
    manifest.write(output_dir, extra={"images": len(files)})
    log.info("wrote %d panoptic maps to %s: %d segments (%d stuff + %d things)", len(files), output_dir,
             stats["total_segments"], stats["total_stuff_segments"], stats["total_thing_segments"])
    return stats
