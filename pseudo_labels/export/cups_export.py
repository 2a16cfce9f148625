"""The CUPS export of one split: semantics + instances -> the flat label folder CUPS' loader reads.

:func:`export_split` is the whole run behind ``pseudo-labels cups`` (and
``convert_to_cups_format.py``): list the inputs, decide which ids are read,
written and things, check every semantic map at full resolution, claim the
output folder, write each image (:mod:`pseudo_labels.export.cups_images`, over
worker processes), then sum the ``.pt`` files as CUPS does and write
``stats.json`` with the ``DATA.THING_STUFF_THRESHOLD`` interval that gives CUPS
the intended thing classes. Nothing is written before every check has passed.
Reads no ground truth.

Modes: "npz" (the original's default: instance ``.npz`` files of
``generate_depth_guided_instances.py``), "depth" and "cc" (the evaluated split
at 512x1024, with or without depth), "legacy" (the original exporter's split
per raw thing cluster at the target size).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import sha256_optional, write_json
from pseudo_labels.core.manifest import RunManifest, RunOutputs
from pseudo_labels.core.parallel import default_workers, ordered_map, run_shard, shard_suffix
from pseudo_labels.data import cityscapes as cs
from pseudo_labels.data.frames import FrameSource, cityscapes_names
from pseudo_labels.export import cups
from pseudo_labels.export.cups_images import ExportSettings, check_semantic_job, export_job
from pseudo_labels.formats.centroids import thing_clusters
from pseudo_labels.formats import cups_labels
from pseudo_labels.formats.cups_labels import ThresholdInterval, read_distributions, threshold_interval
from pseudo_labels.formats.instance_npz import instance_npz
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.formats.stuff_things import read_stuff_things
from pseudo_labels.instances.settings import SplitSettings
from pseudo_labels.instances.units import Units, decide_units, semantic_and_depth, train_id_units

log = logging.getLogger("cups")  # the command's name: log lines read as they did when this lived in the command

MODES = ("npz", "depth", "cc", "legacy")
DEFAULT_SEMANTIC_SUBDIR = "pseudo_semantic_cause_crf"
DEFAULT_INSTANCE_SUBDIR = "sweep_instances/gt0.10_ma500"
DEFAULT_OUTPUT_SUBDIR = "cups_pseudo_labels"


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote: the folder, its ``stats.json`` content and what CUPS' training command needs."""

    output: Path
    stats: dict[str, Any]
    interval: ThresholdInterval
    scale: float
    """CUPS' ``DATA.SCALE`` for these labels."""
    crop: tuple[int, int] | None = None
    """CUPS' ``DATA.CROP_RESOLUTION`` for labels of many sizes: the largest crop every image holds (multiples of
    32); None for one size (CUPS' Cityscapes config fits)."""


class _Ids(NamedTuple):
    """Which ids the maps hold: see :func:`_decide_ids`."""

    units: Units | None
    train_ids: bool
    num_ids: int
    read_things: tuple[int, ...]
    things: tuple[int, ...]
    output_ids: np.ndarray | None
    num_classes: int


def check_output_folder(folder: Path, stems: set[str]) -> None:
    """CUPS loads every file whose name contains '.pt': refuse a folder holding such files that are not ours."""
    if not folder.is_dir():
        return
    foreign = [p.name for p in folder.iterdir() if ".pt" in p.name and p.name.split("_leftImg8bit")[0] not in stems]
    if foreign:
        raise InputError(f"{folder}: holds {len(foreign)} unrelated file(s) with '.pt' in the name (e.g. {foreign[:3]}), "
                         f"which CUPS would load as labels. Use a new --output_subdir.")


def image_size(root: Path, split: str, key: str, semantic: tuple[int, int]) -> tuple[int, int]:
    """The Cityscapes image's (H, W), read from the header; the semantic map's size when the image is absent."""
    city, stem = key.split("/")
    path = root / "leftImg8bit" / split / city / f"{stem}{cs.IMAGE_SUFFIX}"
    try:
        with Image.open(path) as image:
            return image.height, image.width
    except OSError:
        log.info("no image at %s: taking the semantic map's size %dx%d as the image size", path, *semantic)
        return semantic


def _as_cause27(train_ids: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(sorted({int(cs.TRAIN_ID_TO_CAUSE27[t]) for t in train_ids} - {cs.IGNORE_ID}))


def thing_classes(units: Units | None, use_trainid_things: bool = False, trainid_input: bool = False,
                  stuff_things: Path | None = None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The thing pseudo-classes, in the ids read and in the ids written (which differ with ``trainid_input``).

    ``units`` None is the original's default mode, where its rules apply: the
    27 CAUSE thing classes, or a ``stuff_things`` file's trainIds as CAUSE ids,
    or trainIds 11..18 with ``use_trainid_things``.
    """
    if units is None:
        if use_trainid_things:
            return cs.THING_TRAIN_IDS, (_as_cause27(cs.THING_TRAIN_IDS) if trainid_input else cs.THING_TRAIN_IDS)
        if stuff_things is not None:
            things = _as_cause27(read_stuff_things(stuff_things, cs.NUM_CLASSES))
            return things, things
        return cs.CAUSE27_THING_IDS, cs.CAUSE27_THING_IDS
    if units.merged:
        read = units.thing_clusters
    elif units.source.startswith("cluster_to_class"):
        read = thing_clusters(units.lookup[: units.max_id + 1])
    else:
        read = cs.THING_TRAIN_IDS
    return read, (_as_cause27(read) if trainid_input else read)


def _decide_ids(mode: str, first: np.ndarray, first_path: Path, centroids_path: Path | None,
                stuff_things: Path | None, num_classes: int | None, trainid_input: bool,
                use_trainid_things: bool) -> _Ids:
    """Units, the ids read and written, the thing classes and the number of pseudo-classes, from the inputs."""
    train_ids = use_trainid_things or trainid_input
    if mode == "npz":
        units = None
        num_ids = cs.NUM_CLASSES if trainid_input else (num_classes or cs.NUM_CAUSE27)
        if use_trainid_things and not trainid_input:
            num_ids = num_classes or cs.NUM_CLASSES
    else:
        if centroids_path is not None and num_classes == cs.NUM_CLASSES and not train_ids:
            log.info("--num_classes 19 with --centroids_path: the maps are taken as trainIds (the output of "
                     "remap_raw_clusters_to_trainid.py), things = trainIds 11..18")
            train_ids = True
        units = (train_id_units(allows_ignore=True) if train_ids
                 else decide_units(first, centroids_path, stuff_things, str(first_path)))
        num_ids = units.max_id + 1
    read_things, things = thing_classes(units, use_trainid_things, trainid_input, stuff_things)
    output_ids = cs.TRAIN_ID_TO_CAUSE27 if trainid_input else None
    if num_classes:
        classes = num_classes
    elif trainid_input:
        classes = cs.NUM_CAUSE27
    elif units is None:
        classes = num_ids
    elif units.max_id < 255:
        classes = units.max_id + 1
    else:
        raise InputError("pass --num_classes (the number of cluster ids) with --stuff_things and no --centroids_path.")
    if any(t >= classes for t in things):
        raise InputError(f"thing classes {[t for t in things if t >= classes]} are not below --num_classes "
                         f"{classes}; pass the number of pseudo-classes of the semantic maps.")
    return _Ids(units, train_ids, num_ids, read_things, things, output_ids, classes)


def export_split(root: Path, split: str = "train", semantic_subdir: str = DEFAULT_SEMANTIC_SUBDIR,
                 output_subdir: str = DEFAULT_OUTPUT_SUBDIR, *, mode: str = "depth",
                 split_settings: SplitSettings = SplitSettings(), centroids_path: Path | None = None,
                 stuff_things: Path | None = None, num_classes: int | None = None,
                 depth_subdir: str = cs.DEPTH_SUBDIR, instance_subdir: str = DEFAULT_INSTANCE_SUBDIR,
                 trainid_input: bool = False, use_trainid_things: bool = False,
                 target: tuple[int, int] | None = None, instance_png_bits: int = 8, limit: int | None = None,
                 num_shards: int = 1, shard_index: int = 0, workers: int | None = None,
                 skip_missing: bool = False, overwrite: bool = False, manifest: RunManifest | None = None,
                 requested_tau: float | None = None, source: FrameSource = FrameSource()) -> ExportResult:
    """Export ``{root}/{semantic_subdir}/{split}`` as CUPS labels in ``{root}/{output_subdir}``; see the module doc.

    ``mode`` is one of :data:`MODES`; ``split_settings`` decides the split
    (tau None: connected components, no depth read). ``centroids_path``
    (``cluster_to_class``) or ``stuff_things`` (label-free thing clusters) say
    how raw cluster maps are read; ``num_classes`` is the number of
    pseudo-classes of the written maps (default: k of the centroids, 19 for
    trainIds written as such, else 27). ``target`` (H, W) defaults to the image
    size x 0.625. ``manifest`` (the command line's, or one made here from these
    arguments) is claimed for the output folder and completed at the end;
    ``requested_tau`` is the tau it records when the split runs without depth
    (the command line's ``--grad_threshold``; default ``split_settings.tau``).
    ``source``: where the images are. Frames of other layouts than Cityscapes
    may have any size: without ``target`` each gets its own (its size x
    0.625), and CUPS' image layout is made under ``root`` as links to them
    (:func:`~pseudo_labels.export.cups.link_images`), so ``root`` is CUPS'
    ``DATA.ROOT``. Returns the folder, ``stats.json``'s content and the
    threshold interval.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    manifest = manifest or RunManifest("cups", {
        "cityscapes_root": root, "split": split, "semantic_subdir": semantic_subdir, "output_subdir": output_subdir,
        "mode": mode, **split_settings.to_dict(), "centroids_path": centroids_path, "stuff_things": stuff_things,
        "num_classes": num_classes, "depth_subdir": depth_subdir, "instance_subdir": instance_subdir,
        "trainid_input": trainid_input, "use_trainid_things": use_trainid_things, "target": target,
        "instance_png_bits": instance_png_bits, "limit": limit, "num_shards": num_shards,
        "shard_index": shard_index, "workers": workers, "skip_missing": skip_missing, "overwrite": overwrite})
    root = Path(root)
    use_depth = split_settings.uses_depth
    semantic_files, depth_files, _ = semantic_and_depth(root, semantic_subdir, depth_subdir, split, limit)
    images = None if source.is_cityscapes else source.images_of(semantic_files, split, root)
    if mode == "npz":
        instances = root / instance_subdir
        aux = {k: instance_npz(instances, split, k) or cs.output_path(instances, split, k, ".npz")
               for k in semantic_files}
        what, fix = "instance file", "Run generate_depth_guided_instances.py, or pass --depth_instances"
    else:
        aux = depth_files
        what, fix = "depth map", "Generate them, or pass --cc_instances to export without depth"
    missing = [str(p) for p in aux.values() if not p.is_file()] if mode == "npz" or use_depth else []
    if missing and not skip_missing:
        raise InputError(f"{len(missing)} {what}(s) missing, e.g. {missing[:5]}. {fix}, or --skip_missing to leave "
                         f"those images out.")
    run_keys = [k for k in semantic_files if not missing or aux[k].is_file()]  # every shard's images
    keys = run_shard(run_keys, num_shards, shard_index)
    if not keys:
        raise InputError(f"shard {shard_index} of {num_shards} has no images.")
    first = read_label_png(semantic_files[keys[0]])
    ids = _decide_ids(mode, first, semantic_files[keys[0]], centroids_path, stuff_things, num_classes,
                      trainid_input, use_trainid_things)

    each_own_size = images is not None and target is None  # frames of any size: labels at each one's x 0.625
    if each_own_size:
        scale = cups.DEFAULT_SCALE
    else:
        size = image_size(root, split, keys[0], first.shape) if images is None else first.shape
        target = target or cups.default_target(size)
        scale = cups.label_scale(size, target)
    settings = ExportSettings(root / output_subdir, mode, ids.units or train_id_units(), ids.things,
                              ids.read_things, ids.num_ids, ids.train_ids, ids.output_ids, split_settings, target,
                              ids.num_classes, instance_png_bits)
    workers = workers or default_workers()
    log.info("checking %d semantic maps (ids < %d at full resolution)", len(keys), ids.num_ids)
    checks = list(ordered_map(check_semantic_job, [(settings, semantic_files[k]) for k in keys], workers))
    for key, shape in zip(keys, checks):
        if shape != first.shape and not each_own_size:
            raise InputError(f"{semantic_files[key]}: {shape[0]}x{shape[1]}, where {semantic_files[keys[0]]} is "
                             f"{first.shape[0]}x{first.shape[1]}; all maps of a split must have one size.")

    output = settings.output
    split_names = cityscapes_names(list(cs.output_paths(root / semantic_subdir, split, ".png", "semantic PNG")))
    check_output_folder(output, set(split_names.values()))  # any image of the split is ours, whatever --limit a run used
    tau = split_settings.tau if requested_tau is None else requested_tau
    suffix = shard_suffix(num_shards, shard_index)
    manifest.claim(output, {
        "semantic_subdir": semantic_subdir, "mode": mode, "use_depth": use_depth,
        "instance_subdir": instance_subdir if mode == "npz" else None, "grad_threshold": tau,
        "min_instance_area": split_settings.min_area, "depth_blur_sigma": split_settings.sigma,
        "dilation_iters": split_settings.dilation_iters, "target": list(target) if target else "each image x 0.625",
        "num_classes": ids.num_classes,
        "trainid_input": trainid_input, "use_trainid_things": use_trainid_things,
        "instance_png_bits": instance_png_bits,
        "centroids": sha256_optional(centroids_path), "stuff_things": sha256_optional(stuff_things)},
        overwrite, name=f"manifest{suffix}.json",
        inputs=(root / semantic_subdir / split, root / depth_subdir / split if use_depth else None,
                root / instance_subdir / split if mode == "npz" else None, centroids_path, stuff_things,
                None if images is None else source.images_folder(split, root)),
        # what the new run does not rewrite must not stay under its manifest (nor in CUPS' .pt sums)
        outputs=RunOutputs.of([f"*{end}" for end in cups_labels.LABEL_SUFFIXES],
                              [output / f"{split_names[k]}{end}" for k in run_keys for end in cups_labels.LABEL_SUFFIXES]))
    jobs = [(settings, split_names[key], semantic_files[key], aux[key]) for key in keys]
    counts = list(tqdm(ordered_map(export_job, jobs, workers), total=len(jobs), desc=f"cups {split}", unit="img"))
    if images is not None:  # CUPS reads images by the labels' names, below DATA.ROOT
        made = cups.link_images({k: images[k] for k in keys}, split_names, root, overwrite=overwrite)
        log.info("linked %d images (%d new) into %s", len(keys), made, root / cups.IMAGE_FOLDER)

    inside, everywhere, pt_files = read_distributions(output)
    interval = threshold_interval(inside, everywhere, ids.things)
    crop = None
    if each_own_size:
        smallest = np.min([cups.default_target(shape) for shape in checks], axis=0)
        crop = (int(smallest[0]) // 32 * 32, int(smallest[1]) // 32 * 32)
    stats = {
        "images": len(keys), "skipped_missing": len(missing), "instances": int(sum(counts)),
        "instances_per_image": round(float(np.mean(counts)), 4) if counts else 0.0,
        "images_over_255_instances": sum(count > cups.PNG_8BIT_LIMIT for count in counts),
        "units": "instance files" if ids.units is None else ids.units.source, "thing_classes": list(ids.things),
        "mode": mode if mode != "legacy" else "legacy_" + ("depth" if use_depth else "cc"),
        "grad_threshold": split_settings.tau if use_depth else None,
        "min_instance_area": split_settings.min_area,
        "working_size": list(cs.WORKING_SIZE) if images is None else "each frame's, short side 512",
        "target_size": list(target) if target else "each image x 0.625", "cups_data_scale": scale,
        "num_classes": ids.num_classes,
        "pt_files_in_folder": pt_files, "cups_thing_stuff_threshold": interval.as_json(),
        "cups_crop_resolution": list(crop) if crop else None,
    }
    write_json(output / f"stats{suffix}.json", stats)
    manifest.write(output, extra={"images": len(keys)}, name=f"manifest{suffix}.json")
    log.info("wrote %d images (%d instances) at %s to %s", len(keys), sum(counts),
             "%dx%d" % tuple(target) if target else "each image's size x 0.625", output)
    return ExportResult(output, stats, interval, scale, crop)


def threshold_report(interval: ThresholdInterval) -> list[tuple[int, str]]:
    """(logging level, line) saying which ``DATA.THING_STUFF_THRESHOLD`` values give CUPS the intended things.

    The caller logs them and prints :func:`train_command` below them.
    """
    lines = []
    if interval.unreachable:
        lines.append((logging.WARNING, f"thing classes {list(interval.unreachable)} have no pixel inside any "
                                       f"instance: CUPS will train them as stuff"))
    if interval.suggested is None:
        lines.append((logging.WARNING, f"no DATA.THING_STUFF_THRESHOLD gives CUPS exactly the thing classes "
                                       f"{list(interval.things)} (stuff classes {list(interval.outranked_by)} rank "
                                       f"above some of them); CUPS will mix things and stuff"))
    else:
        lines.append((logging.INFO, f"CUPS reads the {len(interval.things)} intended thing classes for "
                                    f"DATA.THING_STUFF_THRESHOLD in [{interval.low:.6g}, {interval.high:.6g})"))
    return lines


def train_command(root: Path, result: ExportResult) -> str:
    """Upstream CUPS' training command for an export's folder (images under ``root``), with its threshold and scale."""
    return cups.train_command(root, result.output, result.interval.suggested, result.scale, result.crop)
