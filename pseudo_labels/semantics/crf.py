"""Dense-CRF refinement of soft label maps, with the settings CAUSE and the original tools use.

The CRF is Krähenbühl and Koltun's fully connected CRF through ``pydensecrf``
(the ``pydensecrf2`` package, an optional dependency built from source:
``pip install -r requirements-crf.txt``). Settings, as in the original:

* unary: ``-log(max(softmax(scale * logits), 1e-5))`` over the label axis,
  with ``scale`` 5 for k-means cosine similarities and 3 for the CAUSE-27
  probe's log-probabilities;
* Gaussian (smoothness) kernel: ``sxy`` 1, compatibility 3;
* bilateral (appearance) kernel: ``sxy`` 67, ``srgb`` 3, compatibility 4, on
  the image at the working size (Pillow BILINEAR), passed in BGR order as the
  original passes it (the lattice is not symmetric in the colour channels);
* 10 mean-field iterations; the label is the argmax of the marginals.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from pseudo_labels.core.errors import InputError
from pseudo_labels.core.parallel import default_workers, ordered_map

T = TypeVar("T")
R = TypeVar("R")

ITERATIONS = 10
GAUSSIAN_SXY, GAUSSIAN_COMPAT = 1, 3
BILATERAL_SXY, BILATERAL_SRGB, BILATERAL_COMPAT = 67, 3, 4
SIMILARITY_SCALE = 5.0
"""Softmax temperature for k-means cosine similarities (overclustered semantics)."""
PROBE_SCALE = 3.0
"""Softmax temperature for the CAUSE-27 probe's averaged log-probabilities."""
INSTALL_HINT = ("dense CRF needs pydensecrf: pip install -r requirements-crf.txt (pydensecrf2, built from source with a "
                "C++ compiler), or pass --skip_crf (the published numbers use --skip_crf).")


def available() -> bool:
    """Whether ``pydensecrf`` can be imported."""
    try:
        importlib.import_module("pydensecrf.densecrf")
    except ImportError:
        return False
    return True


def require() -> None:
    """Stop with the install hint (exit status 2) when ``pydensecrf`` is missing; call before any work."""
    if not available():
        raise InputError(INSTALL_HINT)


def marginals(rgb: np.ndarray, probabilities: np.ndarray, iterations: int = ITERATIONS) -> np.ndarray:
    """(C, H, W) float32 CRF marginals of (C, H, W) label probabilities on an (H, W, 3) uint8 RGB image."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    labels, height, width = probabilities.shape
    if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
        raise ValueError(f"image {rgb.shape} {rgb.dtype} does not match probabilities {probabilities.shape}")
    crf = dcrf.DenseCRF2D(width, height, labels)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probabilities.astype(np.float32))))
    crf.addPairwiseGaussian(sxy=GAUSSIAN_SXY, compat=GAUSSIAN_COMPAT)
    crf.addPairwiseBilateral(sxy=BILATERAL_SXY, srgb=BILATERAL_SRGB, rgbim=np.ascontiguousarray(rgb[:, :, ::-1]),
                             compat=BILATERAL_COMPAT)
    return np.asarray(crf.inference(iterations), np.float32).reshape(labels, height, width)


def refined_labels(rgb: np.ndarray, logits: torch.Tensor, scale: float) -> np.ndarray:
    """(H, W) argmax of the CRF marginals of ``softmax(scale * logits)``: uint8 for C <= 256 labels, else uint16."""
    probabilities = F.softmax(logits.float() * scale, dim=0).numpy()
    return marginals(rgb, probabilities).argmax(axis=0).astype(np.uint8 if len(probabilities) <= 256 else np.uint16)


def map_label_jobs(function: Callable[[T], R], jobs: Iterable[T], use_crf: bool, crf_workers: int | None
                   ) -> Iterator[R]:
    """:func:`~pseudo_labels.core.parallel.ordered_map` of per-image label jobs, in input order.

    With the CRF (seconds per image, one thread) the jobs run in ``crf_workers``
    fresh processes (default: the usable CPUs, at most 8) with one torch thread
    each; without it, plain argmax is cheap and runs in this process.
    """
    workers = (crf_workers or default_workers()) if use_crf else 1
    return ordered_map(function, jobs, workers, start_method="spawn", torch_threads=1)
