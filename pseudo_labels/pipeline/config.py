"""Reading a run's config file: YAML file + dotted ``key=value`` overrides -> a checked, resolved config.

The schema is a tree of dataclasses (:mod:`pseudo_labels.pipeline.schema`);
OmegaConf's structured configs read the YAML against it, so an unknown key or a value of the wrong
type is refused by the library, with the key's full dotted name. Ranges (k,
A_min, tau, ...) are field metadata, checked here after each source is merged,
so the message names the source that brought the bad value: the file, or the
override. Every error is an :class:`InputError` naming the key, the source and
the allowed values (exit status 2 at the command line).

:func:`resolve` fills the values that other keys imply (folders named for k,
the run folder), and :func:`dump` writes every value, so the resolved file
replays the run. ``docs/config.md`` lists every key.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.fileio import write_text
from pseudo_labels.export.cups_export import DEFAULT_OUTPUT_SUBDIR as CUPS_SUBDIR
from pseudo_labels.pipeline.schema import CAUSE27_K, PUBLISHED_K, STAGES, RunConfig

CONFIG_PACKAGE = "pseudo_labels"
CONFIG_FOLDER = "configs"
"""The shipped configs: ``pseudo_labels/configs/*.yaml`` (package data)."""

# --------------------------------------------------------------------------- what a key allows


def schema_keys(cls: type = RunConfig, prefix: str = "") -> list[str]:
    """Every leaf key of the schema, dotted (``semantics.k``), in schema order."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            keys += schema_keys(hints[f.name], f"{prefix}{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def _field_of(dotted: str) -> tuple[type, dataclasses.Field | None]:
    """(the dataclass holding the key, its field) for a dotted key; field None when the key does not exist."""
    cls: type = RunConfig
    parts = [p for p in dotted.replace("[", ".[").split(".") if p and not p.startswith("[")]
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        match = next((f for f in fields(cls) if f.name == part), None)
        if match is None:
            return cls, None
        if dataclasses.is_dataclass(hints[part]) and i < len(parts) - 1:
            cls = hints[part]
        else:
            return cls, match
    return cls, None


def _describe_type(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        inner = [a for a in args if a is not type(None)]
        return f"{_describe_type(inner[0])}, or null"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin is list:
        return f"a list of ({_describe_type(args[0])})"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


def allowed(dotted: str) -> str:
    """What the key takes, in words: its type, its choices and its range."""
    cls, f = _field_of(dotted)
    if f is None:
        return "no such key"
    text = _describe_type(typing.get_type_hints(cls)[f.name])
    limits = f.metadata
    bounds = []
    if "low" in limits:
        bounds.append(f">= {limits['low']}")
    if "high" in limits:
        bounds.append(f"<= {limits['high']}")
    if "below" in limits:
        bounds.append(f"< {limits['below']}")
    if f.name == "instance_png_bits":
        return "8 or 16"
    return text + (f" ({' and '.join(bounds)})" if bounds else "")


def _sub_keys(dotted_parent: str) -> list[str]:
    cls: type = RunConfig
    for part in [p for p in dotted_parent.split(".") if p]:
        hint = typing.get_type_hints(cls).get(part)
        if hint is None or not dataclasses.is_dataclass(hint):
            break
        cls = hint
    return [f.name for f in fields(cls)]


def _explain(exc: OmegaConfBaseException, source: str) -> InputError:
    """One line for an OmegaConf error: the key, the source, and what the key allows."""
    key = str(getattr(exc, "full_key", "") or "")
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    _, f = _field_of(key) if key else (None, None)
    if key and f is None:
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        where = parent or "the top level"
        return InputError(f"{source}: unknown key {key!r} ({first}). Keys under {where}: "
                          f"{', '.join(_sub_keys(parent))}.")
    if key:
        return InputError(f"{source}: {key}: {first}. {key} takes {allowed(key)}.")
    return InputError(f"{source}: {first}.")


def _check_ranges(config: Any, source: str, prefix: str = "") -> None:
    """Every value against its field's range; the first out-of-range value is an InputError naming it."""
    for f in fields(config):
        value = getattr(config, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_ranges(value, source, key + ".")
            continue
        limits = f.metadata
        if f.name == "instance_png_bits" and value not in (8, 16):
            raise InputError(f"{source}: {key} = {value} is not allowed; {key} takes {allowed(key)}.")
        for item in value if isinstance(value, list) else [value]:
            if item is None or isinstance(item, (str, bool)):
                continue
            if not math.isfinite(item) or ("low" in limits and item < limits["low"]) or \
                    ("high" in limits and item > limits["high"]) or ("below" in limits and item >= limits["below"]):
                raise InputError(f"{source}: {key} = {value} is out of range; {key} takes {allowed(key)}.")
    if prefix == "":
        unknown = [s for s in config.stages if s not in STAGES]
        if unknown:
            raise InputError(f"{source}: stages: {unknown} are not stages; stages takes a list of {', '.join(STAGES)}.")


# --------------------------------------------------------------------------- reading


def shipped_configs() -> dict[str, Path]:
    """The configs shipped with the package: name (file stem) -> path."""
    folder = resources.files(CONFIG_PACKAGE) / CONFIG_FOLDER
    return {Path(str(p)).stem: Path(str(p)) for p in sorted(folder.iterdir(), key=lambda p: p.name)
            if p.name.endswith(".yaml")}


def config_file(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else a shipped config's name (``k80_depth`` or ``k80_depth.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_configs()
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    if path.parent == Path(".") and stem in shipped:
        return shipped[stem]
    raise InputError(f"--config {name_or_path}: no such file, and not a shipped config (shipped: "
                     f"{', '.join(shipped)}; in {resources.files(CONFIG_PACKAGE) / CONFIG_FOLDER}).")


def _read_yaml(path: Path) -> DictConfig:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]}); fix the file.") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}).") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: a config file is a mapping of keys (name: ..., semantics: ...), got "
                         f"{type(data).__name__}.")
    return OmegaConf.create(data)


def _merge(base: DictConfig, extra: DictConfig, source: str) -> DictConfig:
    try:
        merged = OmegaConf.merge(base, extra)
        _check_ranges(OmegaConf.to_object(merged), source)
    except OmegaConfBaseException as exc:
        raise _explain(exc, source) from None
    return merged


def load_config(path: str | Path | None, overrides: list[str] = (), cityscapes_root: str | Path | None = None
                ) -> RunConfig:
    """The checked config: schema defaults, then the file, then each ``key=value`` override, then ``cityscapes_root``.

    Values that other keys imply stay None here (see :func:`resolve`).
    """
    merged = OmegaConf.structured(RunConfig)
    if path is not None:
        file = config_file(path)
        merged = _merge(merged, _read_yaml(file), str(file))
    for override in overrides:
        if "=" not in override or override.startswith("="):
            raise InputError(f"override {override!r}: write overrides as dotted key=value pairs (e.g. "
                             f"instances.tau=0.3).")
        key, value = override.split("=", 1)
        try:
            parsed = OmegaConf.from_dotlist([override])
        except OmegaConfBaseException as exc:
            raise _explain(exc, f"override {override!r}") from None
        if _field_of(key)[1] is None:
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            raise InputError(f"override {override!r}: unknown key {key!r}. Keys under {parent or 'the top level'}: "
                             f"{', '.join(_sub_keys(parent))}.")
        merged = _merge(merged, parsed, f"override {override!r}")
    if cityscapes_root is not None:
        merged.cityscapes_root = str(cityscapes_root)
    config: RunConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    if config.cityscapes_root is None:
        raise InputError(f"{path or 'the config'}: cityscapes_root is not set; pass --cityscapes_root R (or set "
                         f"cityscapes_root in the file).")
    check_combinations(config, str(path or "the config"))
    return config


def check_combinations(config: RunConfig, source: str) -> None:
    """Settings that are each valid but cannot run together: an InputError naming the keys."""
    sem, stages = config.semantics, config.stages
    if sem.features == "cause27" and sem.k != CAUSE27_K:
        raise InputError(f"{source}: semantics.features cause27 has 27 classes; set semantics.k: 27 (got {sem.k}).")
    if sem.features == "stand_in" and sem.centroids != "fit":
        raise InputError(f"{source}: semantics.features stand_in always fits its own centroids; set "
                         f"semantics.centroids: fit (got {sem.centroids!r}).")
    if sem.centroids == "published" and sem.k != PUBLISHED_K:
        raise InputError(f"{source}: semantics.centroids published holds k = 80 clusters; set semantics.k: 80.")
    if sem.label_free and sem.features != "cause":
        raise InputError(f"{source}: semantics.label_free needs semantics.features: cause.")
    if sem.label_free:
        needs_classes = [s for s in ("sweep", "report") if s in stages]
        if needs_classes or config.instances.things != "label_free":
            raise InputError(f"{source}: semantics.label_free leaves clusters without classes: set "
                             f"instances.things: label_free and leave {needs_classes or 'sweep, report'} "
                             f"out of stages.")
    if "sweep" in stages and config.sweep.split not in sem.splits and "semantics" in stages:
        raise InputError(f"{source}: sweep.split {config.sweep.split} is not in semantics.splits {sem.splits}.")
    if config.layout != "cityscapes":
        _check_other_layout(config, source)
    if config.instances.things == "label_free" and sem.features == "cause27":
        raise InputError(f"{source}: instances.things label_free needs cluster maps (semantics.features cause or "
                         f"stand_in), not cause27 classes.")


def _check_other_layout(config: RunConfig, source: str) -> None:
    """Images of another layout than Cityscapes have no Cityscapes ground truth: no stage may need it."""
    sem, where = config.semantics, f"{source}: layout {config.layout}"
    scored = [s for s in ("sweep", "report") if s in config.stages]
    if scored:
        raise InputError(f"{where} has no Cityscapes ground truth to sweep or report on: leave {scored} out of "
                         f"stages (score exports with evaluate-panoptic / evaluate-cups --gt_layout where the data "
                         f"has ground truth).")
    if sem.features == "cause27":
        raise InputError(f"{where}: semantics.features cause27 names CAUSE's classes on Cityscapes only; use cause.")
    fits_on_gt = sem.features == "cause" and sem.centroids == "fit" and not sem.label_free
    if fits_on_gt or (sem.features == "stand_in" and config.instances.things != "label_free"):
        raise InputError(f"{where} has no ground truth to name clusters by: set semantics.centroids: published "
                         f"(Cityscapes' clusters transferred) or semantics.label_free: true with instances.things: "
                         f"label_free (stand_in features always fit label-free here).")


# --------------------------------------------------------------------------- resolving and writing


def semantic_subdir(config: RunConfig) -> str:
    """The semantic maps' folder under the root."""
    if config.semantics.subdir:
        return config.semantics.subdir
    if config.semantics.features == "cause27":
        return "pseudo_semantic_cause27"
    return f"pseudo_semantic_raw_k{config.semantics.k}"


def resolve(config: RunConfig) -> RunConfig:
    """The config with every implied value filled in (folders named for k, the run folder, the sweep JSON)."""
    config = dataclasses.replace(config)
    root, k = config.root, config.semantics.k
    config.semantics = dataclasses.replace(config.semantics, subdir=semantic_subdir(config))
    run_dir = Path(config.run_dir) if config.run_dir else root / "runs" / config.name
    config.run_dir = str(run_dir)
    name = f"k{k}" if config.semantics.features != "cause27" else "cause27"
    kind = "cups_label_free" if config.instances.things == "label_free" else CUPS_SUBDIR
    config.cups = dataclasses.replace(config.cups, subdir=config.cups.subdir or f"{kind}_{name}")
    config.sweep = dataclasses.replace(
        config.sweep, output=config.sweep.output or str(root / f"sweep_k{k}_spidepth_{config.sweep.split}.json"))
    config.report = dataclasses.replace(config.report, out=config.report.out or str(run_dir / "report.md"))
    config.launch = dataclasses.replace(config.launch, folder=config.launch.folder or str(run_dir / "slurm"))
    return config


def dump(config: RunConfig) -> str:
    """Every value of ``config`` as YAML, in schema order (what :func:`load_config` reads back identically)."""
    header = "# resolved by pseudo-labels run: every value, defaults included; replay with\n" \
             "#   pseudo-labels run --config THIS_FILE\n"
    return header + OmegaConf.to_yaml(OmegaConf.structured(config), sort_keys=False)


def write_config(config: RunConfig, path: Path) -> Path:
    """Write :func:`dump` of ``config`` to ``path`` atomically."""
    return write_text(path, dump(config))
