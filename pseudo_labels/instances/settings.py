"""What decides the instances of an image: one :class:`SplitSettings` for the sweep, the exports, pictures, evaluations.

The depth-guided split (:func:`pseudo_labels.instances.splitting.split`) is
fixed by four numbers: the depth-gradient threshold ``tau`` (None: no depth,
connected components of each thing unit), the smallest instance ``min_area``
(pixels at the working size), the Gaussian ``sigma`` before the Sobel filter
and the ``dilation_iters`` that reclaim edge pixels. Every stage takes them as
one value, so the numbers a sweep scores are the ones an export writes and a
picture draws. :func:`from_sweep` reads them back from a sweep's result JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from pseudo_labels.formats.sweep_json import read_sweep
from pseudo_labels.core.errors import InputError

PUBLISHED_TAU = 0.20
PUBLISHED_MIN_AREA = 1000
"""The published best (PQ 26.74 at k=80 on Cityscapes val, reference protocol)."""
DEFAULT_SIGMA = 1.0
DEFAULT_DILATION_ITERS = 3
CC_MIN_AREA = 10
"""Minimum component size of the connected-component (no depth) baseline."""


@dataclass(frozen=True)
class SplitSettings:
    """The numbers that decide the instances; ``tau=None`` means no depth (connected components only)."""

    tau: float | None = PUBLISHED_TAU
    min_area: int = PUBLISHED_MIN_AREA
    sigma: float = DEFAULT_SIGMA
    dilation_iters: int = DEFAULT_DILATION_ITERS

    def __post_init__(self) -> None:
        if self.tau is not None and not self.tau >= 0:
            raise InputError(f"the depth-gradient threshold tau must be >= 0, got {self.tau}.")
        if self.min_area < 0 or self.dilation_iters < 0 or not self.sigma >= 0:
            raise InputError(f"A_min, the blur sigma and the dilation steps must be >= 0, got A_min {self.min_area}, "
                             f"sigma {self.sigma}, dilation {self.dilation_iters}.")

    @property
    def uses_depth(self) -> bool:
        """False for the connected-component baseline (no depth read)."""
        return self.tau is not None

    def describe(self) -> str:
        """``tau 0.20, A_min 1000`` (``CC-only, A_min 10`` without depth); blur and dilation when not the defaults."""
        if not self.uses_depth:
            return f"CC-only, A_min {self.min_area}"
        text = f"tau {self.tau:.2f}, A_min {self.min_area}"
        if (self.sigma, self.dilation_iters) != (DEFAULT_SIGMA, DEFAULT_DILATION_ITERS):
            text += f", sigma {self.sigma:g}, dilation {self.dilation_iters}"
        return text

    @classmethod
    def from_record(cls, record: dict) -> SplitSettings:
        """From the keys outputs record them under: ``grad_threshold`` (None: CC-only), ``min_area`` and, when
        present, ``depth_blur_sigma`` and ``dilation_iters``."""
        return cls(record["grad_threshold"], int(record["min_area"]), float(record.get("depth_blur_sigma", DEFAULT_SIGMA)),
                   int(record.get("dilation_iters", DEFAULT_DILATION_ITERS)))

    def to_dict(self) -> dict:
        return asdict(self)


def from_sweep(path: Path, protocol: str = "reference") -> SplitSettings:
    """The settings of the best ``protocol`` entry of a sweep result JSON (its tau, A_min, sigma and dilation)."""
    record = read_sweep(path)
    if protocol not in record["best"]:
        raise InputError(f"{path}: the sweep has no best {protocol!r} entry (it scored {record['protocols']}); "
                         f"pass one of those or re-run the sweep with --protocol {protocol}.")
    best = record["best"][protocol]
    tau = None if best["mode"] == "cc_only" else float(best["grad_threshold"])
    return SplitSettings(tau, int(best["min_area"]), float(record["depth_blur_sigma"]), int(record["dilation_iters"]))
