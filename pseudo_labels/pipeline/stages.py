"""The stages of a run, each through the same library functions as its own command, from a resolved config.

Every stage function takes a :class:`~pseudo_labels.pipeline.config.RunConfig`
(after :func:`~pseudo_labels.pipeline.config.resolve`) and returns the one line
that says what it did and where it wrote. Each library function resumes from
its own manifest, so a re-run skips finished work. The per-image stages (sweep,
cups, panoptic) take a :class:`Shard`, as their commands take
``--num_shards/--shard_index``; :func:`merge_stage` joins a sweep's or a
panoptic export's shard files. :func:`check_inputs` says, before anything runs,
which input a stage left out of ``stages`` should have made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_npz
from pseudo_labels.core.parallel import shard_suffix
from pseudo_labels.data import published
from pseudo_labels.evaluation import panoptic as pan
from pseudo_labels.evaluation.sweep_record import merge_shards as merge_sweep_shards
from pseudo_labels.evaluation.sweep_record import shard_path as sweep_shard_path
from pseudo_labels.evaluation.sweep_run import PROTOCOL_CHOICES, run_sweep_split
from pseudo_labels.export import panoptic_export
from pseudo_labels.export.cups_export import export_split, threshold_report, train_command
from pseudo_labels.export.relabel import cause27_table
from pseudo_labels.formats.semantic import read_label_png
from pseudo_labels.instances.label_free import default_output as stuff_things_path
from pseudo_labels.instances.label_free import run_label_free
from pseudo_labels.instances.settings import SplitSettings, from_sweep
from pseudo_labels.pipeline.schema import CAUSE27_K, RunConfig
from pseudo_labels.report.markdown import write_report
from pseudo_labels.report.picture_set import Selection, draw_pictures, picture_units, semantic_files
from pseudo_labels.report.pictures import Settings

log = logging.getLogger("run")

CENTROID_FILE = published.RESTORE_NAME
"""``kmeans_centroids.npz``: where the semantics stage writes fitted centroids, beside the split folders."""

CAUSE27_CLASSES = "cause27_classes.npz"
"""Beside CAUSE-27 class maps: their ``cluster_to_class`` (class id 0..26 -> trainId, 255 void), read as centroids."""
PER_IMAGE = ("sweep", "cups", "panoptic")
"""Stages that shard over images (job arrays); sweep and panoptic have a merge step."""


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (every count-th image from index), as ``--shard_index/--num_shards``."""

    index: int = 0
    count: int = 1


# --------------------------------------------------------------------------- what the stages share


def centroids_path(config: RunConfig) -> Path:
    """The file whose ``cluster_to_class`` names the clusters (written or restored by the semantics stage)."""
    sem, root = config.semantics, config.root
    if sem.features == "cause27":
        return root / sem.subdir / CAUSE27_CLASSES
    if sem.centroids == "published":
        return root / published.RESTORE_SUBDIR / published.RESTORE_NAME
    if sem.centroids != "fit":
        return Path(sem.centroids)
    return root / sem.subdir / CENTROID_FILE


def split_settings(config: RunConfig) -> SplitSettings:
    """The training labels' split: the sweep's best under ``instances.from_sweep``, else ``instances.*``."""
    inst = config.instances
    if inst.from_sweep:
        return from_sweep(Path(config.sweep.output), inst.from_sweep)
    return SplitSettings(inst.tau, inst.min_area, inst.sigma, inst.dilation_iters)


def cups_folder(config: RunConfig, split: str) -> str:
    """The CUPS export's folder under the root: ``cups.subdir`` for train, ``{cups.subdir}_{split}`` otherwise."""
    return config.cups.subdir if split == "train" else f"{config.cups.subdir}_{split}"


def _things(config: RunConfig) -> tuple[Path | None, Path | None, str]:
    """(centroids_path, stuff_things path, words) of the exports: the majority-vote map or the label-free decision."""
    if config.instances.things == "label_free":
        path = stuff_things_path(config.root, config.semantics.subdir)
        return None, path, f"things from the label-free decision {path} (no ground truth)"
    path = centroids_path(config)
    return path, None, f"classes from the majority-vote cluster_to_class of {path}"


# --------------------------------------------------------------------------- the stages


def semantics(config: RunConfig, shard: Shard = Shard()) -> str:
    """Cluster maps of ``semantics.splits``: fit on val (or load centroids), then label each split."""
    # the network stages' modules are imported when they run: the per-image stages' jobs start without them
    from pseudo_labels.semantics import crf
    from pseudo_labels.semantics.cause27_labels import Cause27Options, run_cause27
    from pseudo_labels.semantics.overclustered import SemanticsOptions, write_semantic_labels
    from pseudo_labels.semantics.stand_in import stand_in_semantics
    from refs.checkpoints import CHECKPOINT_DIR

    sem, root = config.semantics, config.root
    out = root / sem.subdir
    if sem.features == "stand_in":
        if not config.source.is_cityscapes:
            for split in sem.splits:
                stand_in_semantics(root, sem.k, [split], images=config.source.frames(split, root))
            return (f"semantics: weight-free stand-in features, k={sem.k} fitted label-free on the {config.layout} "
                    f"frames (no ground truth read), labelled {', '.join(sem.splits)} -> {out}")
        stand_in_semantics(root, sem.k, sem.splits)
        return (f"semantics: weight-free stand-in features, k={sem.k} fitted on val (majority vote on val GT), "
                f"labelled {', '.join(sem.splits)} -> {out}")
    if not sem.skip_crf:
        crf.require()
    checkpoints = Path(sem.checkpoint_dir) if sem.checkpoint_dir else None
    if sem.features == "cause27":
        split = "both" if set(sem.splits) == {"train", "val"} else sem.splits[0]
        run_cause27(Cause27Options(cityscapes_root=root, checkpoint_dir=checkpoints, split=split,
                                   batch_size=sem.batch_size, num_workers=sem.num_workers, skip_crf=sem.skip_crf,
                                   device=sem.device, limit=sem.limit, output_subdir=sem.subdir,
                                   overwrite=config.overwrite))
        write_npz(out / CAUSE27_CLASSES, {"cluster_to_class": cause27_table()[:CAUSE27_K]})
        return f"semantics: CAUSE-27 classes (Hungarian on val GT), labelled {split} -> {out}"
    if sem.centroids == "published":
        path, written, _ = published.restore(root)
        log.info("the published k=80 centroids %s %s", "written to" if written else "already at", path)
        load: Path | None = path
    elif sem.centroids == "fit":
        load = None
    else:
        load = Path(sem.centroids)
    how = "fitted on val" if load is None else f"loaded from {load}"
    for split in sorted(sem.splits, key=lambda s: s != "val"):  # val first: fitting reads val
        write_semantic_labels(SemanticsOptions(
            cityscapes_root=root, split=split, k=sem.k, skip_crf=sem.skip_crf, raw_clusters=True,
            output_subdir=sem.subdir, load_centroids=load, checkpoint_dir=checkpoints or CHECKPOINT_DIR,
            device=sem.device, limit=sem.limit, batch_size=sem.batch_size, amp=sem.amp,
            label_free=sem.label_free, kmeans=sem.kmeans, n_init=sem.n_init, seed=sem.seed,
            num_workers=sem.num_workers, overwrite=config.overwrite, layout=config.layout,
            image_root=config.source.root))
        load = load or out / CENTROID_FILE  # later splits take the centroids just fitted
    vote = "no ground truth read" if sem.label_free else "classes by majority vote on val GT"
    return f"semantics: CAUSE features, k={sem.k} {how} ({vote}), labelled {', '.join(sem.splits)} -> {out}"


def depth(config: RunConfig, shard: Shard = Shard()) -> str:
    """SPIdepth maps of ``depth.splits``."""
    from pseudo_labels.depth.maps import DepthOptions, write_depth_maps

    d, root = config.depth, config.root
    split = "both" if set(d.splits) == {"train", "val"} else d.splits[0]
    chosen = {"backbone": d.backbone} if d.backbone else {}  # null: the depth stage's default backbone
    write_depth_maps(DepthOptions(cityscapes_root=root, split=split, output_dir=root / d.subdir,
                                  checkpoint_dir=Path(d.checkpoint_dir) if d.checkpoint_dir else None,
                                  device=d.device, flip_augment=d.flip_augment, no_flip_augment=not d.flip_augment,
                                  batch_size=d.batch_size, amp=d.amp, num_workers=d.num_workers, limit=d.limit,
                                  overwrite=config.overwrite, crop_bottom=d.crop_bottom, layout=config.layout,
                                  image_root=config.source.root, **chosen))
    return f"depth: SPIdepth maps of {split} -> {root / d.subdir}"


def stuff_things(config: RunConfig, shard: Shard = Shard()) -> str:
    """The label-free thing/stuff decision of ``stuff_things.split``."""
    st, sem = config.stuff_things, config.semantics
    record, path = run_label_free(config.root, st.split, sem.subdir, config.depth.subdir, tau=st.grad_threshold,
                                  num_clusters=sem.k)
    return (f"stuff_things: {len(record['thing_ids'])} of {sem.k} clusters are things (label-free, on "
            f"{st.split}, no ground truth read) -> {path}")


def sweep(config: RunConfig, shard: Shard = Shard()) -> str:
    """The (tau, A_min) sweep of ``sweep.split`` under ``sweep.protocol``."""
    sw = config.sweep
    run = run_sweep_split(
        config.root, sw.split, semantic_subdir=config.semantics.subdir, depth_subdir=config.depth.subdir,
        centroids_path=centroids_path(config), eval_size=tuple(sw.eval_size), grad_thresholds=sw.grad_thresholds,
        min_areas=sw.min_areas, cc_baseline=sw.cc_baseline,
        protocols=PROTOCOL_CHOICES[sw.protocol], thing_stuff_threshold=sw.thing_stuff_threshold,
        max_images=sw.max_images,
        skip_missing=sw.skip_missing, output=Path(sw.output), workers=config.workers, num_shards=shard.count,
        shard_index=shard.index)
    if run.shard is not None:
        return f"sweep: shard {shard.index} of {shard.count} -> {run.shard}"
    return "sweep: " + best_line(run.record) + f" -> {run.output}"


def best_line(record: dict) -> str:
    """``best (reference): tau 0.20, A_min 1000, PQ 26.74; best (official): ...`` of a sweep record."""
    parts = []
    for protocol in record["protocols"]:
        b = record["best"][protocol]
        where = "CC-only" if b["mode"] == "cc_only" else f"tau {b['grad_threshold']:.2f}, A_min {b['min_area']}"
        parts.append(f"best ({protocol}): {where}, PQ " + ("n/a" if b["PQ"] is None else f"{b['PQ']:.2f}"))
    return "; ".join(parts)


def cups(config: RunConfig, shard: Shard = Shard()) -> str:
    """The CUPS export of each of ``cups.splits``."""
    c, root = config.cups, config.root
    settings = split_settings(config)
    centroids, things_file, how = _things(config)
    lines = []
    for split in c.splits:
        result = export_split(
            root, split, config.semantics.subdir, cups_folder(config, split),
            mode="depth" if settings.uses_depth else "cc", split_settings=settings, centroids_path=centroids,
            stuff_things=things_file, num_classes=c.num_classes or config.semantics.k,
            depth_subdir=config.depth.subdir, target=tuple(c.target) if c.target else None,
            instance_png_bits=c.instance_png_bits, limit=c.limit, num_shards=shard.count, shard_index=shard.index,
            workers=config.workers, skip_missing=c.skip_missing, overwrite=config.overwrite, source=config.source)
        for level, line in threshold_report(result.interval):
            log.log(level, line)
        log.info("train CUPS on it: %s", train_command(root, result))
        lines.append(f"cups {split}: {result.stats['images']} images, {result.stats['instances']} instances "
                     f"({settings.describe()}; {how}) -> {result.output}")
    return "\n".join(lines)


def panoptic(config: RunConfig, shard: Shard = Shard()) -> str:
    """The Cityscapes panoptic export of each of ``panoptic.splits``."""
    p = config.panoptic
    settings = split_settings(config)
    centroids, things_file, how = _things(config)
    stuff_area, new_pixels = pan.area_rule(p.protocol)
    lines = []
    for split in p.splits:
        path = panoptic_export.write_panoptic_split(
            config.root, split, config.semantics.subdir, settings, centroids_path=centroids,
            depth_subdir=config.depth.subdir, output_subdir=p.subdir,
            target=tuple(p.target) if config.source.is_cityscapes else None,  # other layouts: each frame's size
            min_stuff_area=stuff_area, min_new_pixels=new_pixels, limit=p.limit, num_shards=shard.count,
            shard_index=shard.index, workers=config.workers, overwrite=config.overwrite, source=config.source,
            stuff_things=things_file)
        lines.append(f"panoptic {split}: {p.protocol} protocol's prediction ({settings.describe()}; {how}) -> {path}")
    return "\n".join(lines)


def report(config: RunConfig, shard: Shard = Shard(), note: str | None = None) -> str:
    """The sweep's report (and pictures of its ``report.pictures`` worst images)."""
    r, sem = config.report, config.semantics
    out = Path(r.out)
    pictures = None
    if r.pictures:
        root, split = config.root, config.sweep.split
        files = semantic_files(root, sem.subdir, split)
        centroids, things_file, _ = _things(config)  # the pictures show the labels the exports write
        units = picture_units(root, sem.subdir, read_label_png(next(iter(files.values()))),
                              centroids or centroids_path(config), things_file)
        pictures = out.parent / "pictures"
        draw_pictures(root, split, sem.subdir, config.depth.subdir, files,
                      Settings(units, split_settings(config), pan.REFERENCE), Selection(how="worst", limit=r.pictures),
                      pictures)
    path = write_report(Path(config.sweep.output), out, pictures=pictures, html=r.html, note=note)
    return f"report: {path}" + (f" and {path.with_suffix('.html')}" if r.html else "")


STAGE_FUNCTIONS: dict[str, Callable[..., str]] = {
    "semantics": semantics, "depth": depth, "stuff_things": stuff_things, "sweep": sweep, "cups": cups,
    "panoptic": panoptic, "report": report}


def run_stage(config: RunConfig, stage: str, shard: Shard = Shard()) -> str:
    """Run one stage (one shard of a per-image stage); returns its line."""
    return STAGE_FUNCTIONS[stage](config, shard)


def merge_stage(config: RunConfig, stage: str, count: int) -> str:
    """Join the ``count`` shard files of a sweep or a panoptic export into the single-run file."""
    if stage == "sweep":
        output = Path(config.sweep.output)
        record, path = merge_sweep_shards([sweep_shard_path(output, i, count) for i in range(count)], output)
        return f"sweep: merged {count} shards; {best_line(record)} -> {path}"
    if stage == "panoptic":
        folder = config.root / config.panoptic.subdir
        paths = [panoptic_export.merge_shards([folder / f"{split}{shard_suffix(count, i)}.json" for i in range(count)])
                 for split in config.panoptic.splits]
        return f"panoptic: merged {count} shards -> {', '.join(map(str, paths))}"
    raise ValueError(f"stage {stage!r} has no merge step")


# --------------------------------------------------------------------------- inputs of stages left out


def _needs(config: RunConfig, stage: str) -> list[tuple[Path, str, str]]:
    """(path, what it is, the stage that makes it) for each input of ``stage``."""
    root, sem, d = config.root, config.semantics, config.depth
    maps = lambda split: (root / sem.subdir / split, f"{split} semantic maps", "semantics")  # noqa: E731
    depth_maps = lambda split: (root / d.subdir / split, f"{split} depth maps", "depth")  # noqa: E731
    centroids = (centroids_path(config), "the cluster-to-class file", "semantics")
    sweep_json = (Path(config.sweep.output), "the sweep JSON", "sweep")
    if stage == "stuff_things":
        return [maps(config.stuff_things.split), depth_maps(config.stuff_things.split)]
    if stage == "sweep":
        grid_uses_depth = config.sweep.grad_thresholds is None or bool(config.sweep.grad_thresholds)
        return [maps(config.sweep.split), centroids] + ([depth_maps(config.sweep.split)] if grid_uses_depth else [])
    if stage in ("cups", "panoptic"):
        splits = config.cups.splits if stage == "cups" else config.panoptic.splits
        inst = config.instances
        needs = [maps(s) for s in splits]
        needs += [depth_maps(s) for s in splits] if inst.tau is not None or inst.from_sweep else []
        needs += [sweep_json] if inst.from_sweep else []
        if inst.things == "label_free":
            needs.append((stuff_things_path(root, sem.subdir), "the label-free stuff_things.json", "stuff_things"))
        else:
            needs.append(centroids)
        return needs
    if stage == "report":
        split = config.sweep.split
        return [sweep_json] + ([maps(split), depth_maps(split)] if config.report.pictures else [])
    return []


def check_inputs(config: RunConfig) -> None:
    """Before anything runs: every input that a stage left out of ``stages`` should have made exists."""
    missing = []
    for stage in config.stages:
        for path, what, maker in _needs(config, stage):
            if maker not in config.stages and not path.exists():
                missing.append(f"{stage} needs {what} {path} (made by stage {maker}, which the run leaves out)")
    if missing:
        raise InputError("; ".join(missing) + ". Add those stages to --stages, or make the files first.")
