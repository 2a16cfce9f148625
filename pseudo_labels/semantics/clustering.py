"""k-means overclustering of CAUSE features and the cluster-to-class map.

Fitting follows the reference: for every fitting image, the patch-level
features (90 x H'/14 x W'/14) are sampled -- up to 2000 vectors per image drawn
without replacement by one ``RandomState(seed)`` shared across images in
order -- from patches whose ground truth (Pillow NEAREST to the patch grid) is
not void. Vectors are L2-normalised (``max(norm, 1e-8)``) and clustered with
``MiniBatchKMeans(k, batch_size=10000, max_iter=300, n_init=3, random_state=seed)``;
centroids are divided by ``norm + 1e-8``. ``cluster_to_class`` is the majority
GT class of each cluster's samples (this is where the evaluation protocol reads
ground truth).

``label_free`` sampling draws from every patch and reads no ground truth; its
``cluster_to_class`` is all 255 (unknown) until a mapping is built. ``torch``
k-means is a full-batch alternative (k-means++ seeding, Lloyd iterations to
convergence, best of ``n_init``), deterministic for a seed on one device.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pseudo_labels.core.errors import InputError
from pseudo_labels.data import cityscapes as cs

MAX_PER_IMAGE = 2000
DEFAULT_SEED = 42
MINIBATCH_SIZE = 10000
MAX_ITER = 300
DEFAULT_N_INIT = 3
UNKNOWN_CLASS = cs.IGNORE_ID


@dataclass
class FitSampler:
    """Collects the fitting vectors image by image with the reference's sampling."""

    seed: int = DEFAULT_SEED
    label_free: bool = False
    max_per_image: int = MAX_PER_IMAGE
    vectors: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = np.random.RandomState(self.seed)

    def add(self, patches: np.ndarray, gt_train_ids: np.ndarray | None) -> int:
        """Sample from (90, h, w) patch features; ``gt_train_ids`` (full-size trainIds) unless label-free."""
        channels, height, width = patches.shape
        rows = patches.reshape(channels, -1).T.astype(np.float64)
        if self.label_free:
            labels = np.full(len(rows), UNKNOWN_CLASS, np.uint8)
            valid = np.ones(len(rows), bool)
        else:
            if gt_train_ids is None:
                raise ValueError("ground truth is needed unless label_free")
            labels = cs.resize_nearest(gt_train_ids, (height, width)).ravel()
            valid = labels != cs.IGNORE_ID
        rows, labels = rows[valid], labels[valid]
        if len(rows) == 0:
            return 0
        chosen = self._rng.choice(len(rows), min(self.max_per_image, len(rows)), replace=False)
        self.vectors.append(rows[chosen])
        self.labels.append(labels[chosen])
        return len(chosen)

    def matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """(n, 90) L2-normalised float64 vectors and their (n,) GT trainIds (255 when label-free)."""
        if not self.vectors:
            raise ValueError("no fitting vectors were collected")
        vectors = np.concatenate(self.vectors)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8), np.concatenate(self.labels)


@dataclass(frozen=True)
class Clustering:
    """Fitted centroids ((k, 90) float64 unit rows) and what the centroid file records."""

    centroids: np.ndarray
    cluster_to_class: np.ndarray
    method: str
    seed: int
    inertia: float
    n_samples: int
    gt_used: bool

    def to_npz(self) -> dict[str, np.ndarray]:
        return {
            "centroids": self.centroids, "cluster_to_class": self.cluster_to_class,
            "k": np.int64(len(self.centroids)), "method": np.str_(self.method), "seed": np.int64(self.seed),
            "inertia": np.float64(self.inertia), "n_samples": np.int64(self.n_samples), "gt_used": np.bool_(self.gt_used),
        }


def majority_classes(assignment: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(k,) uint8: the most frequent trainId among each cluster's samples (0 for a cluster without any, as the reference)."""
    valid = labels < cs.NUM_CLASSES
    confusion = np.bincount(assignment[valid].astype(np.int64) * cs.NUM_CLASSES + labels[valid],
                            minlength=k * cs.NUM_CLASSES).reshape(k, cs.NUM_CLASSES)
    return confusion.argmax(axis=1).astype(np.uint8)


def normalise_rows(centroids: np.ndarray) -> np.ndarray:
    """Centroids divided by ``norm + 1e-8``, as the reference stores them."""
    return centroids / (np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-8)


def fit_minibatch(vectors: np.ndarray, k: int, seed: int = DEFAULT_SEED, n_init: int = DEFAULT_N_INIT) -> tuple[np.ndarray, np.ndarray, float]:
    """scikit-learn MiniBatchKMeans with the reference's settings: (centroids, labels, inertia).

    Run on one OpenMP thread: with several, the order of its float sums (and so
    the last bits of the centroids) depends on how many threads it gets, and
    reruns must give identical bytes.
    """
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    model = MiniBatchKMeans(n_clusters=k, batch_size=MINIBATCH_SIZE, max_iter=MAX_ITER, random_state=seed, n_init=n_init)
    with threadpool_limits(limits=1):
        model.fit(vectors)
        labels = model.predict(vectors)
    return model.cluster_centers_, labels, float(model.inertia_)


def fit_torch(vectors: np.ndarray, k: int, seed: int = DEFAULT_SEED, n_init: int = DEFAULT_N_INIT,
              device: str | torch.device = "cpu", max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray, float]:
    """Full-batch k-means in torch: greedy k-means++ seeding, Lloyd iterations until assignments stop changing.

    Float64 on the CPU, float32 elsewhere; best (lowest inertia) of ``n_init``
    runs. Same seed and device -> same centroids.
    """
    dtype = torch.float64 if torch.device(device).type == "cpu" else torch.float32
    x = torch.as_tensor(vectors, dtype=dtype, device=device)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    best: tuple[torch.Tensor, torch.Tensor, float] | None = None
    squared = (x * x).sum(dim=1)
    for _ in range(n_init):
        centroids = _kmeans_plus_plus(x, squared, k, generator)
        labels = torch.full((len(x),), -1, dtype=torch.long, device=x.device)
        for _ in range(max_iter):
            distances = squared[:, None] - 2 * x @ centroids.T + (centroids * centroids).sum(dim=1)[None]
            new_labels = distances.argmin(dim=1)
            if torch.equal(new_labels, labels):
                break
            labels = new_labels
            sums = torch.zeros_like(centroids).index_add_(0, labels, x)
            counts = torch.bincount(labels, minlength=k).to(dtype)[:, None]
            centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)  # empty cluster keeps its place
        inertia = float(distances.gather(1, labels[:, None]).clamp(min=0).sum())
        if best is None or inertia < best[2]:
            best = (centroids, labels, inertia)
    assert best is not None
    return best[0].double().cpu().numpy(), best[1].cpu().numpy(), best[2]


def _kmeans_plus_plus(x: torch.Tensor, squared: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Greedy k-means++ seeding: each step draws ``2 + log k`` candidates by D^2 weight and keeps the
    one that lowers the potential most (as scikit-learn does); draws use a CPU generator."""
    trials = 2 + int(np.log(k))
    first = int(torch.randint(len(x), (1,), generator=generator))
    chosen = [first]
    closest = (squared - 2 * x @ x[first] + squared[first]).clamp(min=0)
    for _ in range(1, k):
        weights = closest.double().cpu()
        total = float(weights.sum())
        if total <= 0:  # fewer distinct points than clusters
            candidates = torch.randint(len(x), (trials,), generator=generator)
        else:
            candidates = torch.multinomial(weights / total, trials, replacement=True, generator=generator)
        candidates = candidates.to(x.device)
        distance = (squared[None] - 2 * x[candidates] @ x.T + squared[candidates][:, None]).clamp(min=0)
        potentials = torch.minimum(closest[None], distance)
        best = int(potentials.sum(dim=1).argmin())
        chosen.append(int(candidates[best]))
        closest = potentials[best]
    return x[chosen].clone()


def fit(sampler: FitSampler, k: int, method: str = "minibatch", n_init: int = DEFAULT_N_INIT,
        device: str | torch.device = "cpu") -> Clustering:
    """Cluster the sampled vectors and (unless label-free) name each cluster by majority vote."""
    vectors, labels = sampler.matrix()
    if len(vectors) < k:
        raise InputError(f"{len(vectors)} feature vectors sampled from {len(sampler.vectors)} fitting images, fewer "
                         f"than k = {k} clusters: fit on more images (a larger --limit) or pass a smaller --k.")
    if method == "minibatch":
        centroids, assignment, inertia = fit_minibatch(vectors, k, sampler.seed, n_init)
    elif method == "torch":
        centroids, assignment, inertia = fit_torch(vectors, k, sampler.seed, n_init, device)
    else:
        raise ValueError(f"unknown k-means method {method!r}")
    if sampler.label_free:
        cluster_to_class = np.full(k, UNKNOWN_CLASS, np.uint8)
    else:
        cluster_to_class = majority_classes(assignment, labels, k)
    return Clustering(normalise_rows(centroids), cluster_to_class, method, sampler.seed, inertia, len(vectors),
                      gt_used=not sampler.label_free)


def class_logits(logits: np.ndarray | torch.Tensor, cluster_to_class: np.ndarray) -> torch.Tensor:
    """(19, H, W): per trainId the best similarity over its clusters; -inf for a class without clusters."""
    logits = torch.as_tensor(logits)
    table = torch.from_numpy(cluster_to_class.astype(np.int64))
    per_class = torch.full((cs.NUM_CLASSES, *logits.shape[1:]), -torch.inf, dtype=logits.dtype)
    for class_id in range(cs.NUM_CLASSES):
        members = table == class_id
        if members.any():
            per_class[class_id] = logits[members].max(dim=0).values
    return per_class


def classes_from_clusters(logits: np.ndarray | torch.Tensor, cluster_to_class: np.ndarray) -> np.ndarray:
    """Mapped mode: argmax of :func:`class_logits` -> (H, W) uint8 trainIds.

    A class without clusters never wins (the reference gave it a logit of 0).
    """
    return class_logits(logits, cluster_to_class).argmax(dim=0).numpy().astype(np.uint8)
